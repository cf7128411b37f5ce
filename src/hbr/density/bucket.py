r"""Shape buckets: one compiled program for model structures that differ only in names, or in
whether the effects of the integrated factor are correlated (issue 17).

A :class:`~hbr.density.structure.Structure` is the compile key, and it used to carry the
user's names (``floor``, ``1|county``) and one group layout per group term. So
``log_radon ~ floor + (1 | county) + (0 + floor | county)`` after
``log_radon ~ floor + (floor | county)`` compiled its four programs afresh (about 6 s of an
11 s command). For the common case, a Gaussian model whose group terms all sit on the one
factor that is integrated out and read from sufficient statistics, :func:`bucket` makes the
structure a bucket:

* **Names become slots** (:func:`_slot_names`): fixed effects ``b0, b1, ...``, the
  group coefficients ``g.0, g.1, ...``, their sds ``g.s0, ...`` and the correlation
  ``g.r``; the factor is ``g``. The family's own parameters (``sigma``) keep their names. The readouts return
  slot names, and :attr:`Bucket.names` maps them back outside the compiled program.
* **The integrated terms are one block** of all their k coefficients, always with a
  correlation coordinate (k >= 2). When the terms are uncorrelated (``(1 | g) + (0 + x |
  g)``, ``(x || g)``) that coordinate is a dummy: it keeps its own LKJ(2) prior, the
  likelihood uses the identity correlation instead (``data["corr_on"] = 0``; a correlated
  term has 1), and its draws are dropped. Its density factorises from the rest, so the
  posterior of every other parameter is exactly the model's own; NUTS samples one more
  coordinate that is independent of the others. Terms of one factor that are correlated in
  blocks (``(x | g) + (0 + z | g)``) keep their own structure (an LKJ of the whole block
  would not have an LKJ margin on its sub-blocks).

The merged block is what the marginal likelihood already computes (block-diagonal
:math:`L` over the terms of the factor, :func:`hbr.density.equations._marg_L`), so the log
density equals the model's own plus the dummy's log prior, which the tests check to
rounding.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from hbr.density.structure import GroupLayout, ParamLayout, Structure

__all__ = ["Bucket", "bucketable", "bucket_structure", "bucket", "DUMMY_LKJ"]

DUMMY_LKJ = 2.0  # the dummy correlation's prior (hbr's default LKJ for a correlation)


class Bucket(NamedTuple):
    """A structure as a bucket, and how to read its outputs back: ``names`` maps each slot
    name to the user's name, or to None for a dummy (dropped)."""

    structure: Structure
    names: dict[str, str | None]


def bucketable(s: Structure) -> bool:
    """Whether ``s`` is the common case a bucket covers: "marginal" with every group term of
    the mean on the integrated factor, read from statistics with one sigma (or a known se),
    no other shortcut (size classes, the variance split, collapsed rows), and the terms
    either all uncorrelated or one correlated term."""
    if not (s.parameterization == "marginal" and s.groups and s.use_stats
            and s.noise in ("scalar", "se") and not s.classes and s.split is None
            and not s.aggregate and not s.dpar_fixed):
        return False
    if any(g.raw is not None or g.dpar or not g.integrated or g.smooth for g in s.groups):
        return False
    k = sum(g.k for g in s.groups)
    correlated = [g for g in s.groups if g.corr is not None]
    if k < 2:
        return False
    return not correlated or (len(s.groups) == 1 and correlated[0].k == k)


def _slot_names(s: Structure) -> dict[str, str]:
    """The user's name -> slot name of every fixed effect and group parameter."""
    out = {n: f"b{i}" for i, n in enumerate(s.fixed)}
    c = 0
    for g in s.groups:
        for name, sd in zip(g.names, g.sds):
            out[name], out[sd] = f"g.{c}", f"g.s{c}"
            c += 1
        if g.corr is not None:
            out[g.corr] = "g.r"
    return out


def bucket_structure(s: Structure) -> Bucket:
    """``s`` as its bucket (see the module docstring); ``s`` must be :func:`bucketable`."""
    ren = _slot_names(s)
    back: dict[str, str | None] = {v: k for k, v in ren.items()}
    params = [p._replace(name=ren.get(p.name, p.name)) for p in s.params]
    k = sum(g.k for g in s.groups)
    dim = s.dim
    if s.groups[0].corr is None:  # the dummy correlation, last in the position
        free = k * (k - 1) // 2
        params.append(ParamLayout("g.r", "corr", k, "LKJ", (), dim, dim + free, False, True))
        dim += free
        back["g.r"] = None
    g0 = s.groups[0]
    block = GroupLayout(
        tuple(ren[n] for g in s.groups for n in g.names), g0.n_levels, k, "",
        tuple(ren[n] for g in s.groups for n in g.sds), "g.r", True, None,
        tuple(ren.get(n, n) if n else None for g in s.groups for n in g.loc))
    real_levels = s.sizes[1][0] if s.sizes else 0
    out = s._replace(params=tuple(params), groups=(block,), mfactor="g",
                     fixed=tuple(ren[n] for n in s.fixed), dim=dim,
                     centred=ren.get(s.centred, ""),
                     sizes=(s.sizes[0], (real_levels,)) if s.sizes else ())
    return Bucket(out, back)


def bucket(s: Structure, data: dict[str, Any], rows: dict[str, Any], center: np.ndarray,
           jitter: np.ndarray) -> tuple[Bucket, dict[str, Any], dict[str, Any], np.ndarray,
                                        np.ndarray]:
    """The bucket of ``s`` with its data pytree, row arrays and start (centre and jitter)
    rewritten to match: prior and least-squares entries under slot names, the dummy's
    prior, ``corr_on``, one group entry in the rows (the terms' columns side by side, as
    the statistics already hold them), the dummy's start at 0 with jitter 0.3 (as a
    correlation's)."""
    b = bucket_structure(s)
    ren = {user: slot for slot, user in b.names.items() if user is not None}
    dummy = s.groups[0].corr is None
    prior = {ren.get(n, n): v for n, v in data["prior"].items()}
    if dummy:
        prior["g.r"] = (np.asarray(DUMMY_LKJ, dtype=np.float64),)
    new = {**data, "prior": prior,
           "affine": {ren.get(n, n): v for n, v in data["affine"].items()},
           "W": [None], "parent": [None], "level_X": [None],
           "corr_on": [np.float64(0.0 if dummy else 1.0)]}
    new_rows = rows
    if rows and "groups" in rows and len(rows["groups"]) > 1:
        gs = rows["groups"]
        new_rows = {**rows, "groups": [{"index": gs[0]["index"],
                                        "Z": np.concatenate([g["Z"] for g in gs], axis=1)}]}
    if dummy:
        extra = b.structure.dim - s.dim
        center = np.concatenate([np.asarray(center), np.zeros(extra)])
        jitter = np.concatenate([np.asarray(jitter), np.full(extra, 0.3)])
    return b, new, new_rows, center, jitter
