"""Reading tables and writing outputs atomically.

Outputs are written to a temporary file in the target directory and renamed into place, so
a crash never leaves a half-written file, and an existing file is only replaced when
``overwrite=True`` (CLI: ``--force``). The outputs of one command (``posterior.nc``,
``summary.csv``, ``report.html``) are written as one set by :func:`write_set`: all new or
all old, whenever the process is killed.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Callable

import pandas as pd

from hbr.errors import DataError, OutputExistsError

__all__ = ["read_table", "write_atomic", "write_set", "OutputSet", "finish_set", "check_writable",
           "check_output_dir", "check_free_space", "remove_stale_temporaries"]

STALE_S = 600  # a temporary file of ours untouched this long belongs to a process that died


def check_file(path: str | os.PathLike[str]) -> Path:
    """``path`` as a Path; a DataError when no file is there (or it is a directory)."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"no such file: {str(p)!r}; check the path (relative paths start at "
                        f"{os.getcwd()!r})")
    if p.is_dir():
        raise DataError(f"{str(p)!r} is a directory; give a CSV or Parquet file")
    return p


def read_table(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV (``.csv``, ``.tsv``, ``.txt``) or Parquet (``.parquet``) file.

    Raises
    ------
    DataError
        If the file does not exist, is a directory, is empty or cannot be parsed.
    """
    p = check_file(path)
    suffix = p.suffix.lower()
    try:
        if suffix == ".parquet":
            try:
                return pd.read_parquet(p)
            except ImportError:
                raise DataError("reading Parquet needs pyarrow: pip install pyarrow") from None
        sep = "\t" if suffix == ".tsv" else ","
        return _keep_codes(pd.read_csv(p, sep=sep), p, sep)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{str(p)!r} is empty: no columns to read") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        kind = "Parquet" if suffix == ".parquet" else "CSV"
        raise DataError(f"cannot read {str(p)!r} as {kind}: {first}. Is it really a {kind} "
                        "file?") from None


def _keep_codes(table: pd.DataFrame, path: Path, sep: str) -> pd.DataFrame:
    """Integer columns whose text has leading zeros ("01", "007": codes such as ZIP codes or
    FIPS numbers) read back as the text, so that "01" and "1" stay two levels as written."""
    ints = [c for c in table.columns if pd.api.types.is_integer_dtype(table[c])]
    if not ints:
        return table
    text = pd.read_csv(path, sep=sep, usecols=ints, dtype=str)
    for c in ints:
        if text[c].str.match(r"^[+-]?0[0-9]").any():
            table[c] = text[c]
    return table


def check_writable(path: Path, overwrite: bool) -> None:
    """Raise :class:`OutputExistsError` if ``path`` exists and ``overwrite`` is False."""
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{str(path)!r} exists already; nothing was written. Choose "
                                "another output or pass overwrite=True (CLI: --force)")


def _nearest_existing(folder: Path) -> Path:
    """``folder``, or the nearest folder above it that exists (where it would be created)."""
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    return folder


def check_output_dir(folder: Path) -> None:
    """Before any work: a DataError naming ``folder`` and the reason when the outputs could
    not be written there (it, or the nearest folder above it that exists, is a file, or is
    not writable). Nothing is created."""
    folder = Path(os.path.abspath(folder))
    here = _nearest_existing(folder)
    why = (None if here.is_dir() and os.access(here, os.W_OK | os.X_OK) else
           "is a file, not a directory" if here.exists() and not here.is_dir() else
           "is not writable")
    if why:
        where = "" if here == folder else f" ({str(here)!r}, where it would be created, {why})"
        raise DataError(f"cannot write the outputs to {str(folder)!r}"
                        f"{where if where else ': it ' + why}; nothing was fitted. Choose "
                        "another output directory (--out) or fix its permissions")


def check_free_space(folder: Path, need: int, what: str) -> None:
    """A DataError when the file system of ``folder`` (or of the nearest folder above it
    that exists) has less than ``need`` bytes free, with 10% to spare; nothing where the
    free space cannot be read."""
    import shutil

    try:
        free = shutil.disk_usage(_nearest_existing(Path(os.path.abspath(folder)))).free
    except OSError:
        return
    if free < 1.1 * need:
        raise DataError(f"{what} need about {_size(need)} in {str(folder)!r}, but only "
                        f"{_size(free)} is free there; nothing was fitted. Free some space, "
                        "write elsewhere (--out), or ask for fewer draws (--draws) or chains")


def _size(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def remove_stale_temporaries(folder: Path, pattern: str, age_s: float = STALE_S) -> int:
    """Remove the files matching ``pattern`` in ``folder`` (temporaries of hbr's own naming)
    that nobody has touched for ``age_s`` seconds: what a killed process left. Returns how
    many were removed; errors are ignored (another process may be removing them too)."""
    import time

    now, n = time.time(), 0
    try:
        for p in folder.glob(pattern):
            try:
                if now - p.stat().st_mtime > age_s:
                    p.unlink()
                    n += 1
            except OSError:
                pass
    except OSError:
        pass
    return n


def _umask() -> int:
    """The process umask, read from /proc without changing it (os.umask would set it, for a
    moment, for every thread); 0o022 where /proc is not available."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def write_atomic(path: str | os.PathLike[str], write: Callable[[Path], None],
                 overwrite: bool = False) -> Path:
    """Call ``write(tmp)`` on a temporary path beside ``path``, then rename it into place;
    temporaries of the same naming that a killed process left there (untouched for
    :data:`STALE_S` seconds) are removed first."""
    target = Path(path)
    check_writable(target, overwrite)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target.parent, f".{target.name}.*.tmp")
    tmp = _temporary(target)
    try:
        write(Path(tmp))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


JOURNAL = ".hbr-outputs.json"  # the renames of a set being committed (see write_set)


def _temporary(target: Path) -> Path:
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it private (0600); a result is not
    return Path(tmp)


def finish_set(folder: str | os.PathLike[str]) -> bool:
    """Complete a set of outputs whose commit a killed process left half done in ``folder``
    (the journal :data:`JOURNAL` is there): the renames it lists that were not done are done
    and the outdated files it lists removed, so the folder holds the whole new set. Returns
    whether there was one; errors (a folder one cannot write) are left for the caller's own
    write to report."""
    import json

    journal = Path(folder) / JOURNAL
    try:
        plan = json.loads(journal.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    try:
        _commit(journal, plan)
    except OSError:
        pass
    return True


def _commit(journal: Path, plan: dict[str, list]) -> None:
    for tmp, name in plan["rename"]:
        if (journal.parent / tmp).exists():
            os.replace(journal.parent / tmp, journal.parent / name)
    for name in plan["remove"]:
        if (journal.parent / name).exists():
            os.unlink(journal.parent / name)
    journal.unlink()


class OutputSet:
    """:func:`write_set` in steps, so that a slow file can be written in the background
    while the caller computes the next (``hbr fit --out`` writes ``posterior.nc``, I/O,
    while it computes the summary, CPU: 3.2 GB of draws and 10^5 effects' summary took
    8.6 + 33 s one after the other). Each file goes to a temporary beside its target
    (:meth:`write` now, :meth:`start` on a thread); :meth:`commit` waits for them, then
    writes the journal and renames, as :func:`write_set` describes; :meth:`abandon` (or any
    failure in :meth:`commit`) removes the temporaries and leaves the old set as it was."""

    def __init__(self, folder: str | os.PathLike[str], names: tuple[str, ...] | list[str],
                 overwrite: bool = False, outdated: tuple[str, ...] = ()) -> None:
        self.folder, self.overwrite, self.outdated = Path(folder), overwrite, outdated
        for name in names:
            check_writable(self.folder / name, overwrite)
        self.folder.mkdir(parents=True, exist_ok=True)
        finish_set(self.folder)
        for name in names:
            remove_stale_temporaries(self.folder, f".{name}.*.tmp")
        self.done: dict[str, Path] = {}
        self.jobs: list[tuple[threading.Thread, list[BaseException]]] = []

    def write(self, name: str, writer: Callable[[Path], None]) -> None:
        self.done[name] = _temporary(self.folder / name)
        writer(self.done[name])

    def start(self, name: str, writer: Callable[[Path], None]) -> None:
        """Write ``name`` on a thread (its errors are raised by :meth:`commit`)."""
        self.done[name] = tmp = _temporary(self.folder / name)
        failed: list[BaseException] = []

        def run() -> None:
            try:
                writer(tmp)
            except BaseException as e:  # noqa: BLE001 - handed to commit()
                failed.append(e)

        job = threading.Thread(target=run, name=f"hbr-write-{name}", daemon=True)
        job.start()
        self.jobs.append((job, failed))

    def _wait(self) -> None:
        for job, failed in self.jobs:
            job.join()
            if failed:
                raise failed[0]

    def abandon(self) -> None:
        """Wait for the writers, then remove every temporary: nothing changes in the folder."""
        for job, _ in self.jobs:
            job.join()
        for tmp in self.done.values():
            if tmp.exists():
                tmp.unlink()

    def commit(self) -> list[Path]:
        import json

        try:
            self._wait()
            plan = {"rename": [[t.name, n] for n, t in self.done.items()],
                    "remove": [n for n in self.outdated
                               if self.overwrite and n not in self.done]}
            write_atomic(self.folder / JOURNAL,
                         lambda p: p.write_text(json.dumps(plan), "utf-8"), overwrite=True)
        except BaseException:
            self.abandon()
            raise
        _commit(self.folder / JOURNAL, plan)
        return [self.folder / n for n in self.done]


def write_set(folder: str | os.PathLike[str], writers: dict[str, Callable[[Path], None]],
              overwrite: bool = False, outdated: tuple[str, ...] = ()) -> list[Path]:
    """Write the files ``writers`` names into ``folder`` as one set: all new or all old.

    Every file is first written to a temporary beside its target (the slow part: a process
    killed there leaves the old set as it was, and its temporaries are removed by a later
    run). Then a journal naming the renames is written atomically, the temporaries renamed
    into place, the ``outdated`` files of an earlier set removed (with ``overwrite``: a
    report that described the replaced fit) and the journal removed. A process killed during
    the renames leaves the journal, and the next :func:`write_set` or :func:`hbr.load_fit`
    in that folder completes it (:func:`finish_set`). An existing file is replaced only with
    ``overwrite=True``. :class:`OutputSet` does the same in steps."""
    out = OutputSet(folder, list(writers), overwrite, outdated)
    try:
        for name, write in writers.items():
            out.write(name, write)
    except BaseException:
        out.abandon()
        raise
    return out.commit()
