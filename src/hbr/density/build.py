r"""ModelSpec x parameterisation -> :class:`~hbr.target.Density`, the log density an engine
samples with its readouts.

:func:`make_target` reads as what it does: the :class:`~hbr.density.structure.Structure` of
the model (the compile key), the data pytree (:func:`target_data`, NumPy), and the pure
equations of :mod:`hbr.density.equations` and :mod:`hbr.density.information` bound to the
structure. Group effects :math:`b_j \sim N(0, \Sigma)` that NUTS samples are built from a raw
block by a transform of :data:`hbr.density.reparam.REPARAMS` (DESIGN.md style rule 2). The
parameterisations:

``marginal``     (Gaussian family, the default) the effects of one grouping factor (by default
                 the one with the most levels) are integrated out exactly
                 (:mod:`hbr.density.marginal`) and drawn back from their conditional after
                 sampling; the effects of any other factor are partially centred as in
                 ``auto``.
``auto``         every group effect partially centred, with a centred fraction per group and
                 coefficient (:func:`hbr.density.reparam.centered_fraction`, from a pilot fit).
``noncentered``  :math:`b_j = \mathrm{diag}(s) L_R z_j`, :math:`z_j \sim N(0, I)`.
``centered``     :math:`b_j` sampled directly.

The data (response, design matrices, indices and prior parameters) travel as a pytree argument
of ``logdensity_fn``, not as constants baked into the trace, so a second model with the same
shapes reuses the compiled code.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Mapping

import jax
import numpy as np

from hbr._runtime.compile import SERIAL_K
from hbr._runtime.keys import key_rng
from hbr.density.bucket import bucket, bucket_structure, bucketable
from hbr.density.equations import joint_mode_profile, logdensity
from hbr.density.readouts import constrain, constrain_moments, pointwise_loglik
from hbr.density.information import effect_information, pilot_logdensity
from hbr.density.likelihoods import row_arrays
from hbr.density.classes import class_data
from hbr.density.parts import centering_weights, fixed_affine, initial_center, least_squares
from hbr.density.structure import Structure, level_values, padded_levels, parent_levels
from hbr.design.aggregate import aggregate_rows, design_patterns
from hbr.design.stats import group_xstats, pad_stats, suffstats
from hbr.model.families import FAMILIES
from hbr.model.spec import ModelSpec
from hbr.target import Density, PilotHooks, Readout, Target

__all__ = ["make_target", "make_gibbs_target", "mode_profile", "target_data", "padded_levels"]


def make_target(spec: ModelSpec, parameterization: str = "noncentered",
                marginalize: str | None = None,
                centering: Mapping[int, np.ndarray] | None = None,
                share: bool = True) -> Density:
    """Build the :class:`~hbr.target.Density` of ``spec`` under ``parameterization``.

    Parameters
    ----------
    spec : ModelSpec
    parameterization : {"marginal", "auto", "noncentered", "centered"}
    marginalize : str, optional
        With "marginal": the grouping factor to integrate out (default: most levels).
    centering : dict, optional
        With "auto" and "marginal": the centred fraction (J, k) in [0, 1] of the effects of
        each sampled group term, by its index in ``spec.groups`` (default 0: non-centred).
    share : bool
        Build a shape bucket's structure where one applies (:mod:`hbr.density.bucket`), so
        that structures of the same shape share compiled programs; False keeps the
        model's own (the tests compare the two).

    Examples
    --------
    >>> import jax, pandas as pd, hbr
    >>> from hbr.design import build_design
    >>> from hbr.model import build_model
    >>> d = pd.DataFrame({"y": [1.0, 2, 3, 5], "g": list("aabb")})
    >>> t = make_target(build_model(build_design("y ~ 1 + (1 | g)", d)), "marginal").target
    >>> with jax.enable_x64(True):
    ...     float(t.logdensity_fn(t.initial_point(jax.random.key(0)), t.data)) < 0
    True
    """
    s = Structure.of(spec, parameterization, marginalize, _dtype())
    data, rows, ols = target_data(s, spec, centering)
    center, jitter = initial_center(spec, s, data, ols)
    names = None
    if share and bucketable(s):  # programs shared with structures of the same shape
        b, data, rows, center, jitter = bucket(s, data, rows, center, jitter)
        s, names = b.structure, b.names
    target = Target(partial(logdensity, s), data, s.dim,
                    partial(initial_point, np.asarray(center), np.asarray(jitter)), s.key)
    readout = Readout(partial(constrain, s), partial(pointwise_loglik, s),
                      rows if s.use_stats or (s.aggregate and spec.design.has_rows) else {},
                      tuple(s), names, serial=any(g.k >= SERIAL_K for g in s.groups),
                      moments=partial(constrain_moments, s))
    pilot = PilotHooks(partial(effect_information, s), partial(pilot_logdensity, s),
                       tuple((g.raw[0], g.raw[2], g.raw[3]) for g in s.groups if g.raw),
                       s.raw_ids)
    return Density(target, readout, pilot, parameterization, s.sampled_effects,
                   s.x_shape[0] if s.aggregate else 0)


def make_gibbs_target(spec: ModelSpec, factors: tuple[tuple[int, ...], ...]) -> Density:
    """The :class:`~hbr.target.Density` of the collapsed Gibbs scheme of
    :mod:`hbr.density.gibbs` (crossed Gaussian factors, each integrated out in turn): the
    "centered" density, whose position and readouts it shares, with the blocked updates as
    ``target.blocks``; ``factors`` from :func:`~hbr.density.gibbs.gibbs_factors` (not
    empty)."""
    from hbr.density.gibbs import gibbs_data, gibbs_hooks

    density = make_target(spec, "centered")
    s = Structure.of(spec, "centered", None, _dtype())
    t = density.target
    target = t._replace(data={**t.data, "gibbs": gibbs_data(spec, factors)},
                        signature=t.signature + ("gibbs", factors),
                        blocks=gibbs_hooks(s, factors))
    readout = density.readout._replace(signature=density.readout.signature + ("gibbs",))
    return density._replace(target=target, readout=readout, pilot=None,
                            parameterization="marginal")


def mode_profile(density: Density, spec: ModelSpec, marginalize: str | None, centred: bool
                 ) -> Density:
    """``density`` (the marginal Density of ``spec``, from :func:`make_target`) whose target
    is the joint-mode profile of :func:`hbr.density.equations.joint_mode_profile`
    (non-centred, or ``centred``): its mode over the hyperparameters is the joint mode of
    that parameterisation. The readout is the marginal one. The log density itself adds the
    profile's terms when its data say so (``marg["profile"]``, ``marg["centred"]``), so the
    fit's own compiled programs serve both modes; only the structure summed by level size
    (:mod:`hbr.density.classes`) has a program of its own."""
    t = density.target
    if "profile" in t.data.get("marg", {}) and not _classes(density, spec, marginalize):
        marg = {**t.data["marg"], "profile": np.float64(1.0),
                "centred": np.float64(centred)}
        return density._replace(target=t._replace(data={**t.data, "marg": marg},
                                                  value_and_grad=None), pilot=None)
    s = Structure.of(spec, "marginal", marginalize, _dtype())
    if density.readout.names is not None:  # a bucket, as make_target built it
        s = bucket_structure(s).structure
    target = t._replace(logdensity_fn=partial(joint_mode_profile, s),
                        data={**t.data, "centred": np.float64(centred)},
                        signature=t.signature + ("joint-mode-profile",))
    return density._replace(target=target, pilot=None)


def _classes(density: Density, spec: ModelSpec, marginalize: str | None) -> bool:
    return bool(Structure.of(spec, "marginal", marginalize, _dtype()).classes)


def _dtype() -> str:
    """The float type JAX computes in now (x64 on: float64), without an eager op."""
    return "float64" if jax.config.read("jax_enable_x64") else "float32"


def initial_point(center: np.ndarray, jitter: np.ndarray, key: jax.Array) -> np.ndarray:
    """A start point: ``center`` jittered uniformly by up to ``jitter`` (NumPy, no program)."""
    return center + jitter * key_rng(key).uniform(-1.0, 1.0, center.shape[0])


def gaussian_y(rows: Mapping[str, Any]) -> Any:
    """The response the Gaussian algebra reads: ``log y`` for the lognormal (``y_log``),
    else ``y``."""
    return rows["y_log"] if "y_log" in rows else rows["y"]


def _f64(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _rows(s: Structure, spec: ModelSpec) -> dict[str, Any]:
    design = spec.design
    rows: dict[str, Any] = {
        "y": _f64(design.y), "X": _f64(design.X),
        "offset": (_f64(design.offset) if design.offset is not None
                   else np.zeros(design.y.shape[0])),
        "groups": [{"index": np.asarray(g.block.index, dtype=np.int32), "Z": _f64(g.block.Z)}
                   for g in spec.groups],
        **row_arrays(design),
    }
    if s.has_se:
        rows["se"] = _f64(design.se)
    if FAMILIES[spec.family].log_response:  # the lognormal: the Gaussian density of log y
        rows["y_log"] = _f64(spec.y_model)
    if design.dpars:  # every distributional formula's columns, side by side
        rows["dpar_X"] = _f64(design.dpar_X)
    return rows


def target_data(s: Structure, spec: ModelSpec, centering: Mapping[int, np.ndarray] | None
                ) -> tuple[dict[str, Any], dict[str, Any], tuple]:
    """The data pytree of the log density, the row arrays (for the pointwise log likelihood
    on the statistics path, and when the log density reads collapsed rows) and the
    least-squares fit the start point is built from."""
    if not s.use_stats and not s.aggregate:  # the likelihood reads the rows
        spec.design.require_rows("this model")
    rows = _rows(s, spec)
    ols = least_squares(spec)  # once: the fixed-effect coordinates and the start point
    data: dict[str, Any] = {
        "prior": {p.name: tuple(np.broadcast_to(_f64(v), lay.prior_shape).copy()
                                for _, v in p.prior.params)
                  for p, lay in zip(spec.params, s.params)},
        "W": [centering_weights(centering, i, g.raw[2:], s.reparam) if g.raw else None
              for i, g in enumerate(s.groups)],
        "affine": fixed_affine(spec, ols),
        "parent": [parent_levels(spec, i, g.parent[0]) if g.parent else None
                   for i, g in enumerate(s.groups)],
        "level_X": [level_values(spec, i, g.level_cols) if g.level_cols else None
                    for i, g in enumerate(s.groups)],
    }
    data["runs"] = [_run_data(s.params[i:j], data) for i, j in s.fixed_runs]
    if s.centred:  # the predictors' means: the intercept's coordinate is the intercept there
        data["center"] = np.asarray(spec.intercept_center, dtype=np.float64)
    if s.aggregate:  # rows repeating a covariate pattern, one row per pattern
        agg, const = collapsed_rows(spec, rows)
        data.update({**rows, **agg, "agg_const": np.float64(const)})
    elif not s.use_stats:  # the likelihood reads the rows
        data.update(rows)
    if s.marg_ids:
        data["marg"] = _marginal_data(s, spec, rows)
    return data, rows, ols


def _run_data(run: tuple, data: dict[str, Any]) -> dict[str, Any]:
    """A run of fixed effects (:attr:`Structure.fixed_runs`) as vectors: the least-squares
    shift and scale and each prior parameter, one entry per coordinate."""
    def cat(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate([np.atleast_1d(v) for v in parts]).astype(np.float64)

    shift, scale = (cat([data["affine"][p.name][c] for p in run]) for c in (0, 1))
    n = len(data["prior"][run[0].name])
    prior = tuple(cat([np.broadcast_to(data["prior"][p.name][c], (p.size,)) for p in run])
                  for c in range(n))
    return {"shift": shift, "scale": scale, "prior": prior}


def collapsed_rows(spec: ModelSpec, rows: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """One row per covariate pattern and the constant of :func:`hbr.design.aggregate.
    aggregate_rows`: collapsed from ``rows``, or by DuckDB when the rows stayed in the
    files (:mod:`hbr.sources.patterns`)."""
    ts = spec.design.table_stats
    if ts is not None:
        c = ts.collapsed
        return {k: (v if k != "groups" else list(v)) for k, v in c["rows"].items()}, c["const"]
    return aggregate_rows(rows, spec.family, design_patterns(spec.design, spec.family))


def _group_noise_data(s: Structure, spec: ModelSpec, rows: dict[str, Any], index: np.ndarray,
                      J: int, n: np.ndarray) -> dict[str, Any]:
    r"""With the residual sd constant within each level j of the integrated factor (noise
    "group"): per level :math:`X_j^\top X_j`, :math:`X_j^\top y_j`, :math:`y_j^\top y_j`
    and the row count, and ``by_group``, the ``sigma ~`` design as one row per level (the
    level's first row; padding levels are zeros, so their sd is 1 and, empty, they add
    nothing): :func:`hbr.density.equations.noise_sd` on it gives the sd of each level."""
    XtX, Xty, yty = group_xstats(gaussian_y(rows) - rows["offset"], rows["X"], index, J,
                                 rows.get("weights"))
    levels, first = np.unique(index, return_index=True)

    def per_level(a: np.ndarray) -> np.ndarray:
        out = np.zeros((J,) + a.shape[1:], dtype=a.dtype)
        out[levels] = a[first]
        return out

    by_group = {"dpar_X": per_level(rows["dpar_X"]),
                "groups": [{"index": per_level(gd["index"]), "Z": per_level(gd["Z"])}
                           if g.dpar else None for g, gd in zip(s.groups, rows["groups"])]}
    return {"n": n, "XtX_g": XtX, "Xty_g": Xty, "yty_g": yty, "by_group": by_group}


def _marginal_data(s: Structure, spec: ModelSpec, rows: dict[str, Any]) -> dict[str, Any]:
    """What the integrated factor needs: per-group statistics, and on the row path the
    group columns and index (other factors are sampled, so residuals need the rows)."""
    design, ids = spec.design, s.marg_ids
    blk0 = spec.groups[ids[0]].block
    n_levels = s.groups[ids[0]].n_levels  # padded on the statistics path
    Zm = np.concatenate([spec.groups[i].block.Z for i in ids], axis=1)
    # known se: statistics of the rows scaled by 1/se (weighted least squares)
    if design.has_rows:
        sw = 1.0 / rows["se"] if s.noise == "se" else np.ones(design.n_obs)
        st = suffstats((gaussian_y(rows) - rows["offset"]) * sw, rows["X"] * sw[:, None],
                       Zm * sw[:, None], blk0.index, n_levels, rows.get("weights"))
    else:  # computed by DuckDB (hbr.sources.duckdb); pad with empty groups
        st = pad_stats(design.table_stats.stats, n_levels)
    # noise 1: effects are drawn from their conditional; 0: its mean (point estimates)
    marg = {"ZtZ": st.ZtZ, "N": st.N, "noise": np.float64(1.0),
            # 0: the log marginal posterior; 1: the joint-mode profile (mode_profile)
            "profile": np.float64(0.0), "centred": np.float64(0.0),
            "levels": np.float64(s.n_marg_real),  # J without the padding
            "log_se": np.float64(np.sum(rows.get("weights", 1.0) * np.log(rows["se"]))
                                 if s.has_se else 0.0)}
    if s.use_stats:  # everything the likelihood needs
        marg.update(ZtX=st.ZtX, Zty=st.Zty, XtX=st.XtX, Xty=st.Xty, yty=st.yty)
        if s.classes:  # summed by level size (hbr.density.classes)
            marg["cls"] = class_data(st.ZtZ, st.Zty, st.ZtX)
        if s.noise == "group":
            marg.update(_group_noise_data(s, spec, rows, blk0.index, n_levels, st.n))
    else:
        marg.update(Z=Zm, index=rows["groups"][ids[0]]["index"])
    return marg
