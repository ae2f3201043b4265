"""Benchmark: peak memory of the metric grid at a real dataset's size, epochs read lazily or whole (never a test).

The grid store (:func:`hearlike.grid.store.compute_grid_store`) runs tasks of one model group × one
block of subjects. ``pipeline.metric_grid`` passes every subject's epochs lazily (opened from their
per-subject cache files as dask arrays): a task reads its own block only, and blocks hold as many
subjects as fit ``epochs_budget_bytes`` (1 GiB). This writes synthetic subjects at Broderick 2018's
size (about 12,000 words × 128 channels × 154 samples, 0.95 GB float32 each) in the epochs cache's
format, then runs the same grid twice, each in its own process: with the epochs opened lazily
(the pipeline's path) and read whole first (the path before). It prints the peak RSS of each
process, the epochs' size, the subjects per task and the wall time.

One model group at the states budget (default 40 layers × 12,000 words × 512 features, float32:
0.98 GB) against the study's 4 windows × 7 regions and 10 metrics; the ``swap`` null (the shift
null adds one block's continuous recordings: ~120 MB a subject at this size).

    python bench/memory.py                    # 3 subjects, 10 permutations (~5 min on 2 cores)
    python bench/memory.py --subjects 2 --sentences 200 --layers 8   # smaller, a minute
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

METRICS = ("spearman_rsa", "pearson_rsa", "procrustes", "mutual_knn", "linear_cka", "rbf_cka", "dcor", "svcca",
           "cka_debiased", "dcor_debiased")


def _word_table(sentences: int, seed: int):
    import numpy as np

    rng = np.random.default_rng(seed)
    lengths = rng.integers(6, 19, size=sentences)  # 12 words per sentence on average
    sid = np.repeat([f"s{i:04d}" for i in range(sentences)], lengths)
    widx = np.concatenate([np.arange(n) for n in lengths])
    return sid, widx


def write_subjects(folder: Path, *, subjects, sentences, channels, samples, seed=0) -> list[Path]:
    """One epochs file per subject (the epochs cache's layout: word × channel × time, float32 volts)."""
    import numpy as np
    import xarray as xr

    from hearlike.cache import write_netcdf

    sid, widx = _word_table(sentences, seed)
    words = [f"{s}:{k}" for s, k in zip(sid, widx)]
    paths = []
    for j in range(subjects):
        rng = np.random.default_rng([seed, j])
        data = rng.standard_normal((len(words), channels, samples), dtype=np.float32) * np.float32(1e-5)
        da = xr.DataArray(data, dims=("word", "channel", "time"),
                          coords={"word": words, "sentence_id": ("word", sid), "word_index": ("word", widx),
                                  "channel": [f"E{i:03d}" for i in range(channels)],
                                  "time": np.arange(samples) / 128.0 - 0.2},
                          attrs={"sfreq_hz": 128.0}, name="eeg")
        paths.append(write_netcdf(da, folder / f"epochs-sub{j:02d}.nc", config_hash="bench"))
        del da, data
    return paths


def _run(mode, paths, args, out):
    import numpy as np
    import torch
    import xarray as xr

    from hearlike.cache import read_netcdf
    from hearlike.grid.store import compute_grid_store, subject_block_size, EPOCHS_BUDGET_BYTES

    torch.set_num_threads(1)
    start = time.perf_counter()
    parts = [read_netcdf(p, config_hash="bench", dataarray=True, lazy=mode == "lazy") for p in paths]
    epochs = xr.concat(parts, dim="subject").assign_coords(subject=[f"sub{j:02d}" for j in range(len(paths))])
    epochs = epochs.transpose("subject", "word", "channel", "time")
    sid, widx = _word_table(args.sentences, 0)
    rng = np.random.default_rng(1)
    states = xr.DataArray(rng.standard_normal((args.layers, len(sid), args.features), dtype=np.float32),
                          dims=("layer", "word", "feature"),
                          coords={"layer": [f"decoder.{i}" for i in range(args.layers)],
                                  "word": epochs["word"].values, "sentence_id": ("word", sid),
                                  "word_index": ("word", widx)})
    names = [str(c) for c in epochs["channel"].values]
    size = max(1, len(names) // 7)  # 6 disjoint regions (18 channels each at 128) and all channels
    regions = {"all": names, **{f"r{i}": names[(i * size) % len(names) :][:size] for i in range(6)}}
    windows = [(f"w{i}", 250 * i, 250 * (i + 1)) for i in range(4)]
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "g.store"
        compute_grid_store(store, lambda name: states, [f"m{i}" for i in range(args.models)], epochs,
                           windows=windows, regions=regions, metrics=list(METRICS),
                           n_permutations=args.permutations, null_kind="swap", factor_regions=["all"])
        with xr.open_dataset(store / "meta.nc", engine="h5netcdf") as meta:
            groups = len(json.loads(meta.attrs["model_groups"]))
    out.put({"mode": mode, "wall_s": time.perf_counter() - start,
             "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
             "states_gb": states.nbytes / 1e9, "groups": groups,
             "block": subject_block_size(epochs, 4, EPOCHS_BUDGET_BYTES)})


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subjects", type=int, default=3)
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=128)
    parser.add_argument("--samples", type=int, default=154)
    parser.add_argument("--layers", type=int, default=40)
    parser.add_argument("--features", type=int, default=512)
    parser.add_argument("--permutations", type=int, default=10)
    parser.add_argument("--models", type=int, default=1, help="models of one group (the same states each)")
    parser.add_argument("--modes", nargs="+", default=["lazy", "read"], choices=["lazy", "read"])
    args = parser.parse_args(argv)
    ctx = mp.get_context("spawn")
    with tempfile.TemporaryDirectory() as folder:
        paths = write_subjects(Path(folder), subjects=args.subjects, sentences=args.sentences,
                               channels=args.channels, samples=args.samples)
        per_subject = paths[0].stat().st_size / 1e9
        print(f"{args.subjects} subjects × {per_subject:.2f} GB of epochs ({args.sentences} sentences, "
              f"{args.channels} channels × {args.samples} samples); {args.models} model(s): {args.layers} layers × "
              f"{args.features} features each; 4 windows × 7 regions, {len(METRICS)} metrics, "
              f"{args.permutations} permutations (swap null), 1 thread")
        print(f"{'epochs':>7} {'subjects/task':>13} {'model groups':>12} {'wall s':>8} {'peak RSS GB':>12}")
        rows = []
        for mode in args.modes:
            out = ctx.Queue()
            proc = ctx.Process(target=_run, args=(mode, paths, args, out))
            proc.start()
            proc.join()  # the row is a few numbers: the queue never blocks the child's exit
            if proc.exitcode != 0:
                raise SystemExit(f"bench/memory.py: the {mode!r} run failed (exit code {proc.exitcode}); see above")
            row = out.get(timeout=60)
            rows.append(row)
            print(f"{mode:>7} {row['block']:>13} {row['groups']:>12} {row['wall_s']:>8.1f} {row['peak_gb']:>12.2f}",
                  flush=True)
    return rows


if __name__ == "__main__":
    main()
