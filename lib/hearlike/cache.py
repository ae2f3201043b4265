"""Atomic file writes and self-describing netCDF caches.

A cache file is written to a temporary name in the same folder and renamed into place, so a killed
run never leaves a half-written file under the final name. Every cache carries attrs saying how it
was made (``config_hash``, ``hearlike_version``); :func:`read_netcdf` returns ``None`` when the file is
missing or was made with another configuration, so callers recompute.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import socket
import tempfile
from pathlib import Path
from typing import Any, Iterator

import xarray as xr

from . import __version__

logger = logging.getLogger(__name__)


_HOST = socket.gethostname().replace(".", "-")


def _temp_prefix(path: Path) -> str:
    """Temp-file prefix naming the final file, the host and the process: ``.<stem>.<host>-<pid>.``."""
    return f".{path.stem}.{_HOST}-{os.getpid()}."


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_orphans(folder: str | Path) -> list[Path]:
    """Remove temp files that killed writers left in ``folder``; return what was removed.

    A temp file of :func:`atomic_path` names its host and process; it is an orphan when that process
    is gone (same host). Files of live processes and of other hosts (a shared cluster file system)
    are left alone.
    """
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    pattern = re.compile(rf"^\..+\.{re.escape(_HOST)}-(\d+)\.[^.]+\.tmp")
    for path in folder.glob(".*.tmp*"):
        match = pattern.match(path.name)
        if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    if removed:
        logger.warning("removed %d temp file(s) left by killed runs in %s: %s", len(removed), folder,
                       ", ".join(p.name for p in removed[:3]))
    return removed


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` if the block succeeds.

    Temp files that killed runs left beside ``path`` are removed first (:func:`clean_orphans`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_orphans(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def file_lock(path: str | Path) -> Iterator[Path]:
    """Hold an exclusive lock on the file ``path`` (created if missing) for the block; wait for it.

    Two processes computing the same cache (two notebooks executed side by side, two JupyterLab
    kernels) then compute it once: the second waits, then finds it done. An advisory POSIX lock
    (``fcntl.flock``), released by the system if the holder is killed; on a file system without
    locks the block runs unlocked.
    """
    import fcntl

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            logger.info("waiting for %s (another process holds it)", path)
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError as err:  # no locks on this file system (some network mounts)
            logger.warning("cannot lock %s (%s); going on unlocked", path, err)
        try:
            yield path
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def write_netcdf(obj: xr.Dataset | xr.DataArray, path: str | Path, *, config_hash: str | None = None) -> Path:
    """Write ``obj`` to ``path`` atomically (h5netcdf engine) with provenance attrs."""
    obj = obj.copy()
    obj.attrs["hearlike_version"] = __version__
    if config_hash is not None:
        obj.attrs["config_hash"] = config_hash
    with atomic_path(path) as tmp:
        obj.to_netcdf(tmp, engine="h5netcdf")
    logger.info("wrote %s", path)
    return Path(path)


def read_netcdf(path: str | Path, *, config_hash: str | None = None, dataarray: bool = False, lazy: bool = False):
    """Read a cache written by :func:`write_netcdf`; ``None`` if missing or made with another config.

    ``lazy``: open it as one dask chunk per variable instead of reading it (the file stays open; its
    last element of every variable is read now, so a truncated file is caught here, not in a task).
    """
    path = Path(path)
    if not path.exists():
        return None
    opener = xr.open_dataarray if dataarray else xr.open_dataset
    try:
        if lazy:
            obj = opener(path, engine="h5netcdf", chunks=-1)
            probe = obj.isel({dim: slice(-1, None) for dim in obj.dims})
            probe.load()
        else:
            with opener(path, engine="h5netcdf") as obj:
                obj = obj.load()
    except Exception as err:  # a corrupt cache is recomputed, never trusted
        logger.warning("cache %s is unreadable (%s); it will be recomputed", path, err)
        return None
    if config_hash is not None and obj.attrs.get("config_hash") != config_hash:
        logger.info("cache %s was made with another configuration; recomputing", path)
        return None
    return obj


def config_hash(config: Any, *, length: int = 12) -> str:
    """Stable short hash of a JSON-serialisable configuration (order of dict keys ignored): a cache key."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]
