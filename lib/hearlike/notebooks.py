"""Execute the finding notebooks: jupytext MyST sources -> papermill -> ``book/*.ipynb``.

The sources in ``notebooks/*.md`` are jupytext MyST markdown (reviewable diffs; JupyterLab opens them
as notebooks). Each has a cell tagged ``parameters``; papermill injects the values from the study's
parameter file (``params.yml``), so the study runs on other data or models without editing a notebook.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from .cache import atomic_path
from .config import Params, load_params

logger = logging.getLogger(__name__)

def notebook_parameters(params: Params, name: str, *, relative_to: str | Path | None = None) -> dict[str, Any]:
    """Parameters injected into notebook ``name``: the parameter file's path plus ``notebooks[name]``.

    The notebook loads the file itself (so it runs the same in JupyterLab), and papermill's injected
    cell shows which file and which notebook-specific values were used. With ``relative_to`` (the
    notebook's folder, where it runs) the path is relative, so no machine's absolute path is published.
    """
    path = params.params_file
    if relative_to is not None and path is not None:
        path = Path(os.path.relpath(path, Path(relative_to).resolve()))
    injected = {"params_file": str(path)}
    injected.update(params.notebook(name))
    return injected


_QUIET_TQDM = "ignore:IProgress not found"
#: environment variables that set the threads of torch (OpenMP) and of the BLAS libraries
_THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def _fold_parameter_cells(path: Path) -> None:
    """Tag papermill's injected-parameters cell ``hide-input`` (the book folds it under a toggle) and keep
    only file names in papermill's metadata (no machine's absolute paths in the published notebook)."""
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    record = notebook.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if record.get(key):
            record[key] = Path(record[key]).name
    for cell in notebook.cells:
        tags = cell.get("metadata", {}).get("tags", [])
        if "injected-parameters" in tags and "hide-input" not in tags:
            tags.append("hide-input")
    nbformat.write(notebook, path)


def run_notebooks(
    params_file: str | Path,
    *,
    source_dir: str | Path = "notebooks",
    output_dir: str | Path = "book",
    names: list[str] | None = None,
    kernel_name: str = "python3",
    overrides: dict[str, Any] | None = None,
    jobs: int = 1,
) -> list[Path]:
    """Execute every ``source_dir/*.md`` notebook with papermill into ``output_dir``.

    Parameters
    ----------
    params_file : path
        The study parameter file (see ``params.yml``).
    source_dir, output_dir : path
        Folder of jupytext sources, folder of executed ``.ipynb`` outputs.
    names : list of str, optional
        Notebook stems to run (default: all, in name order).
    overrides : dict, optional
        Entries replacing those of the parameter file inside every notebook (injected as the
        notebook parameter ``overrides``; tests use it to run tiny versions).
    jobs : int
        Notebooks executed at once, each in its own kernel (:func:`start_order`). The caches they
        share are computed once: a second kernel asking for a grid being computed waits for it
        (:func:`hearlike.cache.file_lock`).

    Returns
    -------
    paths : list of Path
        The executed notebooks, in name order. A failing notebook raises papermill's
        ``PapermillExecutionError`` naming the cell (the others still running are finished, none is
        started after it); its partial output is kept as ``<name>.failed.ipynb``.
    """
    from concurrent.futures import ProcessPoolExecutor

    params = load_params(params_file, overrides)
    # the kernels inherit the environment: no progress bars in the book, no network, and the inline
    # backend so figures carry their PNG (a headless MPLBACKEND=Agg would leave them as text)
    os.environ.update(TQDM_DISABLE="1", HF_HUB_DISABLE_PROGRESS_BARS="1", HF_HUB_OFFLINE="1",
                      TRANSFORMERS_OFFLINE="1", MPLBACKEND="module://matplotlib_inline.backend_inline")
    # tqdm.auto warns in a kernel without ipywidgets even when every bar is disabled
    os.environ["PYTHONWARNINGS"] = ",".join(filter(None, [os.environ.get("PYTHONWARNINGS"), _QUIET_TQDM]))
    source_dir, output_dir = Path(source_dir), Path(output_dir)
    sources = sorted(source_dir.glob("*.md"))
    if names:
        sources = [s for s in sources if s.stem in names]
        unknown = set(names) - {s.stem for s in sources}
        if unknown:
            raise ValueError(f"no notebook source named {sorted(unknown)} in {source_dir}")
    if not sources:
        raise FileNotFoundError(f"no jupytext notebook sources (*.md) in {source_dir}")
    output_dir.mkdir(parents=True, exist_ok=True)

    run = functools.partial(_execute, output_dir=output_dir.resolve(), params_file=Path(params_file).resolve(),
                            overrides=overrides, kernel_name=kernel_name, log_level=logging.getLogger().level)
    sources = [source.resolve() for source in sources]
    if jobs <= 1:
        return [run(source) for source in sources]
    # the cores shared out between the kernels: spinning OpenMP/BLAS threads of one kernel on the cores of
    # another slowed the book's first finding 2x (442 s side by side against 213 s alone, 2 cores)
    run = functools.partial(run, threads=max(1, (os.cpu_count() or 1) // int(jobs)))
    # processes, not threads: papermill changes the working directory of the process it runs in
    with ProcessPoolExecutor(max_workers=int(jobs), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {source: pool.submit(run, source) for source in start_order(sources)}
        try:
            return [futures[source].result() for source in sources]
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def start_order(sources: list[Path]) -> list[Path]:
    """The order notebooks start in when several run at once: the first finding (its name starts
    with a digit; it computes the study's metric grid, which the other findings read), then the
    chapters (they do not read the grid, so they run while it is computed), then the other findings
    (by then the grid is cached, or they wait for it)."""
    findings = [s for s in sources if s.stem[:1].isdigit()]
    return findings[:1] + [s for s in sources if not s.stem[:1].isdigit()] + findings[1:]


def _execute(source: Path, *, output_dir: Path, params_file: Path, overrides: dict[str, Any] | None,
             kernel_name: str, log_level: int = logging.WARNING, threads: int | None = None) -> Path:
    """Execute one jupytext ``source`` with papermill into ``output_dir/<stem>.ipynb`` (atomically);
    runs in a worker process of its own when several notebooks run at once, its kernel then limited
    to ``threads`` OpenMP/BLAS threads (unless the environment sets them)."""
    import jupytext
    import nbformat
    import papermill as pm

    if not logging.getLogger().handlers:  # a spawned worker: log as its parent does
        logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
    if threads is not None:  # the kernel inherits this worker's environment
        for name in _THREAD_VARIABLES:
            os.environ.setdefault(name, str(threads))
    params = load_params(params_file, overrides)
    notebook = jupytext.read(source)
    notebook.metadata.setdefault("kernelspec", {"name": kernel_name, "display_name": "Python 3", "language": "python"})
    injected = notebook_parameters(params, source.stem, relative_to=source.parent)
    if overrides:
        injected["overrides"] = dict(overrides)
    target = output_dir / f"{source.stem}.ipynb"
    started = time.perf_counter()
    logger.info("executing %s -> %s", source, target)
    with tempfile.TemporaryDirectory() as workdir, atomic_path(target) as tmp_out:
        tmp_in = Path(workdir) / f"{source.stem}.ipynb"
        nbformat.write(notebook, tmp_in)
        try:
            pm.execute_notebook(
                str(tmp_in), str(tmp_out), parameters=injected, kernel_name=kernel_name,
                cwd=str(source.parent.resolve()), progress_bar=False, log_output=False,
            )
        except Exception:
            failed = output_dir / f"{source.stem}.failed.ipynb"
            if tmp_out.exists():
                shutil.copyfile(tmp_out, failed)
                logger.error("%s failed; partial output kept in %s", source.name, failed)
            raise
        _fold_parameter_cells(tmp_out)
    logger.info("executed %s in %.1f s", source.name, time.perf_counter() - started)
    return target
