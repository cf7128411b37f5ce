"""ModelSpec x parameterisation -> the JAX log density an engine samples.

:func:`hbr.density.build.make_target` returns a :class:`hbr.target.Target`. The pieces:
``likelihoods`` (family log likelihoods), ``marginal`` (the exact integration of Gaussian
effects: Woodbury and the determinant lemma), ``reparam`` (centred, non-centred and partially
centred effects), ``parts`` (priors, start points), ``auto`` (the pilot fit that chooses the
centred fractions) and ``transforms`` (targets made from targets: Laplace whitening, effects
at their conditional mean).
"""

from hbr._runtime.deferred import defer_unused_scipy

defer_unused_scipy()  # before NumPyro loads: SciPy modules it imports that no fit calls

from hbr.density.build import make_target  # noqa: E402

__all__ = ["make_target"]
