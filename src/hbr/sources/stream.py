"""The fitted rows of a model read again, chunk by chunk, in table order, and coded as the
fit coded them (:func:`hbr.design.newdata.new_rows`, with the levels and moments the fit learnt):
from the fit's own design, a pandas DataFrame, CSV/Parquet files through DuckDB (streamed
as Arrow batches, out of core) or a Dask DataFrame (one partition in memory at a time).
Used by :mod:`hbr.checks.loo` and by the predictive check of fits out of core."""

from __future__ import annotations

import dataclasses

import os
from typing import Any, Iterator

import numpy as np
import pandas as pd

from hbr.design.newdata import Rows, needed_columns, new_rows, training_rows
from hbr.errors import DataError, OptionError

__all__ = ["sample_rows", "chunks", "take", "concat", "positions"]

SCAN_ROWS = 500_000  # rows read per chunk of a pass over the table


def sample_rows(fit: Any, m: int, data: Any = None, seed: int = 0
                ) -> tuple[Rows, np.ndarray]:
    """A simple random sample of ``m`` of the fitted rows (all when ``m >= N``), coded as the
    fit coded them, with their response; read in one pass, coding only the rows kept. The
    positions are those :func:`loo` evaluates with the same ``seed``."""
    N = int(fit.spec.design.n_obs)
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m < 1:
        raise OptionError(f"m={m!r}: give a number of rows (at least 1)")
    keep = positions(N, min(int(m), N), np.random.default_rng(seed))
    parts = list(chunks(fit, data, keep))
    return concat([r for r, _ in parts]), np.concatenate([y for _, y in parts])


def positions(N: int, m: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(N) if m >= N else np.sort(rng.choice(N, size=m, replace=False))


# the optional per-row arrays of Rows (offset, se, trials, ..., weights): None or (n, ...)
_ROW_FIELDS = tuple(f.name for f in dataclasses.fields(Rows)
                    if f.name not in ("X", "index", "Z", "new_levels"))


def take(rows: Rows, i: np.ndarray) -> Rows:
    def pick(a: np.ndarray | None) -> np.ndarray | None:
        return None if a is None else a[i]
    return Rows(rows.X[i], tuple(x[i] for x in rows.index), tuple(z[i] for z in rows.Z),
                rows.new_levels, **{k: pick(getattr(rows, k)) for k in _ROW_FIELDS})


def concat(parts: list[Rows]) -> Rows:
    def cat(arrs: list[np.ndarray | None]) -> np.ndarray | None:
        return None if arrs[0] is None else np.concatenate(arrs)
    first = parts[0]
    return Rows(np.concatenate([p.X for p in parts]),
                tuple(np.concatenate(x) for x in zip(*[p.index for p in parts])),
                tuple(np.concatenate(z) for z in zip(*[p.Z for p in parts])),
                first.new_levels, **{k: cat([getattr(p, k) for p in parts]) for k in _ROW_FIELDS})


def _columns(design: Any) -> list[str]:
    """What coding a row reads: predictors, factors, trials/offsets, the response, se(),
    cens()."""
    from hbr.design.transforms import factor_columns

    f = design.formula
    extra = [f.response] + [fa for name, fa in f.additions if name != "trials"]
    return list(dict.fromkeys(needed_columns(design)
                              + [c for fa in extra for c, _ in factor_columns(fa)]))


def chunks(fit: Any, data: Any, keep: np.ndarray | None = None
           ) -> Iterator[tuple[Rows, np.ndarray]]:
    """The fitted rows in table order (only those at the sorted positions ``keep`` when
    given), coded as the fit coded them, with the response.

    Raises
    ------
    DataError
        The table's row count (after dropping missing values as the fit did) is not the
        fit's, or it has levels the fit has not seen.
    """
    from hbr.design.transforms import evaluate

    design = fit.spec.design
    N = int(design.n_obs)
    if data is None and design.has_rows:
        rows = training_rows(design)
        y = np.asarray(design.y, dtype=float)
        i = np.arange(N) if keep is None else keep
        for s in range(0, len(i), SCAN_ROWS):
            yield take(rows, i[s:s + SCAN_ROWS]), y[i[s:s + SCAN_ROWS]]
        return
    if data is None:
        data = design.table_stats.source if design.table_stats is not None else None
        if data is None:
            raise OptionError("this fit does not know where its rows are; pass the fitted "
                              "table as data=")
    cols = _columns(design)
    dropna = bool(int(fit.draws.attrs.get("dropna", 0)))
    f = design.formula
    seen = 0
    for frame in _frames(data, cols, design):
        if dropna:
            frame = frame.dropna(subset=[c for c in cols if c in frame.columns])
        start, seen = seen, seen + len(frame)
        if keep is not None:  # code only the rows kept
            lo, hi = np.searchsorted(keep, [start, seen])
            frame = frame.iloc[keep[lo:hi] - start]
        if len(frame) == 0:
            continue
        rows = new_rows(design, frame)
        unseen = next((lv for lv in rows.new_levels if lv), None)
        if unseen:
            raise DataError(f"the table has levels the fit has not seen ({unseen[0]!r}): it "
                            "is not the table the model was fitted to")
        y = evaluate(f.response, frame, f.text, dict(design.memo))
        if not isinstance(y, np.ndarray):
            raise DataError(f"the response {f.response.expr!r} is not numeric")
        yield rows, np.asarray(y, dtype=float)
    if seen != N:
        raise DataError(f"the table has {seen} rows (after dropping missing values as the fit "
                        f"did), the fit {N}: pass the table the model was fitted to")


def _frames(data: Any, cols: list[str], design: Any) -> Iterator[pd.DataFrame]:
    from hbr.sources.dask import is_dask

    if isinstance(data, pd.DataFrame):
        for s in range(0, len(data), SCAN_ROWS):
            yield data.iloc[s:s + SCAN_ROWS]
    elif is_dask(data):
        for part in data[cols].to_delayed():  # one partition in memory at a time
            frame = part.compute()
            for s in range(0, len(frame), SCAN_ROWS):
                yield frame.iloc[s:s + SCAN_ROWS]
    elif isinstance(data, (str, os.PathLike)):
        yield from _duckdb_frames(data, cols, design)
    else:
        raise OptionError(f"data must be a DataFrame, a CSV/Parquet path or glob, or a Dask "
                          f"DataFrame, not {type(data).__name__}")


def _duckdb_frames(path: Any, cols: list[str], design: Any) -> Iterator[pd.DataFrame]:
    """The table's rows from DuckDB in its order (insertion order is kept), in batches."""
    import duckdb

    from hbr.sources.duckdb import _q, _source, connect, unreadable

    settings = design.table_stats.settings if design.table_stats is not None else {}
    with connect(settings.get("threads"), settings.get("memory_limit")) as con:
        src = _source(path)
        try:
            rel = con.sql(f"SELECT {', '.join(_q(c) for c in cols)} FROM {src}")
            fetch = getattr(rel, "to_arrow_reader", None) or rel.fetch_arrow_reader  # < 2.0
            reader = fetch(SCAN_ROWS)
        except duckdb.Error as exc:
            raise unreadable(path, exc) from None
        for batch in reader:
            yield batch.to_pandas()

