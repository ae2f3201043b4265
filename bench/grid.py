"""Benchmark: the metric grid against its peers, measured in the same run (never a test).

The anchor workload (issue 16): 100 sentences × 32 layers, 12 words each, d = 1024 model
features; EEG 64 channels × 26 samples (one subject, one window, one region: one cell); a
within-sentence permutation null (hearlike's permutations, so every peer must give the same
numbers). Peers, each in its own process (so its peak RSS is its own), 1 thread:

* ``hearlike``: :func:`hearlike.grid.compute_grid`, one metric at a time and all 8 in one call;
* ``numpy-loop``: a hoisted NumPy/SciPy loop (:mod:`peers`): per sentence each layer's and the
  cell's representation prepared once, then a loop over (layer, cell) pairs, every permutation of
  a pair in one vectorised gather + product; "all 8" is the sum of its per-metric runs;
* ``rsatoolbox`` and ``mne-rsa`` (Spearman and Pearson RSA only): per sentence the RDMs once, all
  permuted cell RDMs stacked, one vectorised ``compare``/``rsa`` call.

Printed per (permutations, metric, tool): wall s, peak MiB, ``speed-up`` = tool wall / hearlike
wall (> 1: hearlike faster), max |Δ| of scores and null samples against hearlike and ``equal``
(max |Δ| < 1e-9). Where CUDA is available, a ``hearlike-cuda`` row per metric (the same grid with
``device="cuda"``; its speed-up < 1 is the GPU's gain) and a GPU projection. Then a scaling table
and a projection of the full study.

Where the time went (cProfile, anchor, all 8 metrics, 1 thread, issue 16): at 0 permutations 9.3 s
before, 1.4 s after sharing one word geometry (centred Gram, correlation RDM, energy;
:mod:`hearlike.geometry`) between all metrics and gathering the model words contiguously -- the
24 per-metric Gram products, their float64 casts and centrings were 80 % of the time. At 100
permutations (15.7 s -> 7.5 s) the rest is the nuclear norms of Procrustes and SVCCA: one small
``eigvalsh`` per layer × cell × sentence × permutation (~70 %), inherent to those two metrics. Since
2026-12-06 they are one compiled loop (:mod:`hearlike.metrics.nuclear`: products side by side, up to
64 in SIMD loops since 2026-12-07, ~3× LAPACK per matrix, and no broadcast copies of the factors);
``HEARLIKE_COMPILED=0`` times the LAPACK path in the same run.

    python bench/grid.py --quick              # tiny sizes in-process, seconds (tests/test_bench_grid.py)
    python bench/grid.py                      # the anchor at 0 and 100 permutations (~10 min on 2 busy cores)
    python bench/grid.py --permutations 0 100 1000 --sentences-1000 10
    python bench/grid.py --permutations 100 --repeat 3 --tools numpy-loop rsatoolbox   # min of 3 per tool
    python bench/grid.py --scaling            # hearlike: time and peak RSS vs sentences, layers, subjects
    python bench/grid.py --projection         # the full study in hours on 2 cores (see project())
    python bench/grid.py --json out.json      # rows as JSON too
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

STUDY_METRICS = ("spearman_rsa", "pearson_rsa", "procrustes", "mutual_knn", "linear_cka", "rbf_cka", "dcor",
                 "svcca")
ALL = "all 8"
TOLERANCE = 1e-9


def make_data(*, sentences, layers, words, features, channels, samples, subjects=1, seed=0, ragged=False):
    """Synthetic states ``(layer, word, feature)`` and epochs ``(subject, word, channel, time)`` with a
    shared latent (so scores are not all at chance), words labelled ``{sentence}:{index}``."""
    import numpy as np
    import xarray as xr

    rng = np.random.default_rng(seed)
    lengths = rng.integers(6, 17, size=sentences) if ragged else np.full(sentences, words)
    sid = np.repeat([f"s{i:04d}" for i in range(sentences)], lengths)
    widx = np.concatenate([np.arange(n) for n in lengths])
    n_words = len(sid)
    latent = rng.standard_normal((n_words, 4))
    states = latent @ rng.standard_normal((layers, 4, features)) + rng.standard_normal((layers, n_words, features))
    eeg = (latent @ rng.standard_normal((4, channels * samples))).reshape(1, n_words, channels, samples)
    eeg = eeg + 3 * rng.standard_normal((subjects, n_words, channels, samples))
    coords = {"word": [f"{s}:{k}" for s, k in zip(sid, widx)], "sentence_id": ("word", sid),
              "word_index": ("word", widx)}
    names = [f"E{i:03d}" for i in range(channels)]
    model = xr.DataArray(states.astype(np.float32), dims=("layer", "word", "feature"),
                         coords={"layer": [f"decoder.{i}" for i in range(layers)], **coords})
    epochs = xr.DataArray((eeg * 1e-6).astype(np.float32), dims=("subject", "word", "channel", "time"),
                          coords={"subject": [f"sub-{i:02d}" for i in range(subjects)], "channel": names,
                                  "time": np.arange(samples) / 128.0, **coords})
    return model, epochs, {"all": names}


def _window(epochs):
    return [("all", 0.0, float(epochs["time"].values[-1] * 1000 + 1))]


def run_hearlike(model, epochs, regions, n_perm, metric, device="cpu"):
    from hearlike.grid import compute_grid

    metrics = list(STUDY_METRICS) if metric == ALL else [metric]
    ds = compute_grid({"m": model}, epochs, windows=_window(epochs), regions=regions, metrics=metrics,
                      n_permutations=n_perm, seed=0, keep_null=True, null_kind="shuffle", device=device)
    ds = ds.isel(model=0, subject=0, window=0, region=0)
    return ds["score"].transpose("metric", "layer").values, ds["null"].transpose("metric", "permutation", "layer").values


def _runner(tool):
    if tool == "hearlike":
        return run_hearlike
    if tool == "hearlike-cuda":  # the same grid on the GPU (float64; the results come back to the CPU)
        return lambda *args: run_hearlike(*args, device="cuda")
    from peers import PEERS

    return PEERS[tool][0]


def _status_kib(field):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak_rss_kib():
    """Reset the peak-RSS watermark (Linux: write 5 to clear_refs); return the current RSS in KiB."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return _status_kib("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak_rss_kib():
    try:
        return _status_kib("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(tool, data_kw, n_perm, metric, threads):
    """``(wall s, peak RSS MiB above the start, score, null)`` of one run, in this process."""
    import torch

    torch.set_num_threads(threads)
    import numpy as np

    import hearlike.grid  # noqa: F401  (imports are not timed)
    from hearlike.metrics import nuclear

    if nuclear.AVAILABLE:  # nor numba's import and the compiled loops' load from its cache
        from hearlike.geometry import cell_geometry, gathered_geometry
        from hearlike.grid.cells import eeg_valid

        nuclear.nuclear_norms(np.ones((1, 2, 1)), np.ones((1, 2, 1)))
        gathered_geometry(np.ones((1, 4, 2), np.float32), 0, np.arange(4).reshape(1, 4), 2)  # the states' dtype
        eeg = np.ones((1, 4, 1, 2), np.float32)  # the epochs' dtype
        cell_geometry(eeg, np.arange(4).reshape(1, 4), np.arange(1), np.arange(2), rejected=np.empty((1, 1), bool))
        eeg_valid(eeg, [(np.arange(1), np.arange(2))], np.arange(4).reshape(1, 4))
        from hearlike.grid._null_loop import fisher_yates, permuted_inner

        permuted_inner(np.ones((1, 1, 4)), np.ones((1, 1, 4)), np.zeros((1, 1, 2), np.int64), True, np.empty((1, 1, 1, 1)))
        fisher_yates(np.zeros((1, 2), np.int64), np.empty((1, 2), np.int64))

    data = make_data(**data_kw)
    run = _runner(tool)
    if tool == "hearlike-cuda":
        torch.zeros(1, device="cuda")  # the CUDA context is not timed
    base = _reset_peak_rss_kib()
    start = time.perf_counter()
    score, null = run(*data, n_perm, metric)
    wall = time.perf_counter() - start
    return wall, (_peak_rss_kib() - base) / 1024, score, null


def _child(args, queue):
    os.environ["OMP_NUM_THREADS"] = str(args[-1])
    queue.put(measure(*args))


def measure_isolated(*args):
    """:func:`measure` in a fresh spawned process (its own peak RSS, no warm caches)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def compare_tools(args, data_kw, n_perm):
    """Rows for one number of permutations: every metric, then all 8, every tool."""
    import numpy as np

    from peers import PEERS

    run = _best_of(measure if args.quick else measure_isolated, args.repeat)
    rows = []
    combined = {name: [0.0, 0.0] for name in PEERS}
    ref_all = run("hearlike", data_kw, n_perm, ALL, args.threads)
    for k, metric in enumerate(STUDY_METRICS):
        ref = run("hearlike", data_kw, n_perm, metric, args.threads)
        rows.append(_row(n_perm, metric, "hearlike", ref, ref, data_kw))
        # all 8 in one call gives each metric's numbers too
        rows[-1]["max_diff"] = float(max(np.abs(ref_all[2][k] - ref[2][0]).max(),
                                         np.abs(ref_all[3][k] - ref[3][0]).max() if n_perm else 0.0))
        rows[-1]["equal"] = rows[-1]["max_diff"] < TOLERANCE
        if _cuda():  # the GPU row: speed-up < 1 means faster than hearlike on the CPU
            rows.append(_row(n_perm, metric, "hearlike-cuda", run("hearlike-cuda", data_kw, n_perm, metric, args.threads),
                             ref, data_kw))
        for name, (_, supported) in PEERS.items():
            if metric in supported and name in args.tools:
                got = run(name, data_kw, n_perm, metric, args.threads)
                rows.append(_row(n_perm, metric, name, got, ref, data_kw))
                combined[name][0] += got[0]
                combined[name][1] = max(combined[name][1], got[1])
    rows.append(_row(n_perm, ALL, "hearlike", ref_all, ref_all, data_kw))
    if _cuda():
        rows.append(_row(n_perm, ALL, "hearlike-cuda", run("hearlike-cuda", data_kw, n_perm, ALL, args.threads),
                         ref_all, data_kw))
    for name, (_, supported) in PEERS.items():
        if len(supported) == len(STUDY_METRICS) and name in args.tools:
            rows.append({**_row(n_perm, ALL, name, (*combined[name], None, None), ref_all, data_kw),
                         "max_diff": max(r["max_diff"] for r in rows if r["tool"] == name and r["permutations"] == n_perm),
                         "equal": all(r["equal"] for r in rows if r["tool"] == name and r["permutations"] == n_perm)})
    return rows


def _best_of(run, repeat):
    """``run`` repeated ``repeat`` times (each its own process where ``run`` spawns one): the least
    wall time, the largest peak RSS, the first run's numbers."""
    def best(*args):
        runs = [run(*args) for _ in range(max(1, repeat))]
        return (min(r[0] for r in runs), max(r[1] for r in runs), runs[0][2], runs[0][3])

    return best


def _row(n_perm, metric, tool, got, ref, data_kw):
    import numpy as np

    row = {"permutations": n_perm, "metric": metric, "tool": tool, "sentences": data_kw["sentences"],
           "wall_s": got[0], "peak_mib": got[1], "speedup": got[0] / ref[0], "max_diff": 0.0, "equal": True}
    if tool == "hearlike-cuda":  # the same call on the GPU: every score and null sample
        diff = max(np.abs(got[2] - ref[2]).max(), np.abs(got[3] - ref[3]).max() if n_perm else 0.0)
        row["max_diff"], row["equal"] = float(diff), bool(diff < TOLERANCE)
    elif got[2] is not None and tool != "hearlike":
        diff = np.abs(np.asarray(got[2]).reshape(-1) - ref[2][0].reshape(-1)).max()
        if n_perm:
            diff = max(diff, np.abs(np.asarray(got[3]).reshape(n_perm, -1) - ref[3][0].reshape(n_perm, -1)).max())
        row["max_diff"], row["equal"] = float(diff), bool(diff < TOLERANCE)
    return row


def print_rows(rows):
    print(f"{'perms':>6} {'sent':>5} {'metric':<13}{'tool':<12}{'wall s':>9}{'peak MiB':>10}{'speed-up':>10}"
          f"{'max |Δ|':>11}  equal")
    for r in rows:
        print(f"{r['permutations']:>6} {r['sentences']:>5} {r['metric']:<13}{r['tool']:<12}{r['wall_s']:>9.3f}"
              f"{r['peak_mib']:>10.0f}{r['speedup']:>10.2f}{r['max_diff']:>11.1e}  {'yes' if r['equal'] else 'NO'}")
    sys.stdout.flush()


def scaling(args, data_kw):
    """hearlike alone, all 8 metrics, 100 permutations: wall s and peak MiB at ×1, ×2, ×4."""
    base = dict(sentences=max(4, data_kw["sentences"] // 4), layers=max(2, data_kw["layers"] // 4), subjects=1)
    print(f"\nscaling: hearlike, all 8 metrics, {args.scaling_permutations} permutations, base {base}")
    rows = []
    for key in ("sentences", "layers", "subjects"):
        cells = []
        for factor in (1, 2, 4):
            kw = {**data_kw, **base, key: base[key] * factor}
            wall, peak, _, _ = (measure if args.quick else measure_isolated)(
                "hearlike", kw, args.scaling_permutations, ALL, args.threads)
            cells.append(f"×{factor}: {wall:7.2f} s {peak:6.0f} MiB")
            rows.append({"vary": key, "factor": factor, "wall_s": wall, "peak_mib": peak})
        print(f"  {key:<10}" + "   ".join(cells))
    return rows


#: the full study's size (assumptions, see README "Real models and real data"): subjects,
#: sentences (11 words on average, the longest 40), channels and words per dataset; 12 models of ~40
#: layers; 4 windows × 7 regions, the factor metrics on 1 region
STUDY = {"alice2019": {"subjects": 33, "sentences": 200, "channels": 61, "words": 2129},
         "broderick2018": {"subjects": 19, "sentences": 1000, "channels": 128, "words": 11000}}
STUDY_MODELS, STUDY_LAYERS, STUDY_LONGEST = 12, 40, 40


def make_shift_data(*, sentences, layers, features, channels, samples, subjects, seed=0):
    """:func:`make_data` epochs cut from continuous synthetic recordings at irregular word onsets (128 Hz,
    epochs from -0.2 s), with the ``shift`` null's surrogates from the same recordings."""
    import numpy as np
    import xarray as xr

    from hearlike.eeg.surrogates import SurrogateEpochs, relocation_shifts

    model, _, _ = make_data(sentences=sentences, layers=layers, words=12, features=features, channels=channels,
                            samples=samples, subjects=1, seed=seed, ragged=True)
    rng = np.random.default_rng(seed + 1)
    sid = np.asarray(model["sentence_id"].values)
    gaps = rng.uniform(0.2, 0.5, len(sid)) + np.r_[0.0, sid[1:] != sid[:-1]] * 1.0  # s; 1 s between sentences
    onset = (np.round(np.cumsum(gaps) * 128.0) + 64).astype(np.int64)
    offsets = np.arange(samples) - 26  # -0.2 s at 128 Hz
    n_samples = int(onset[-1] + samples + 64)
    signals = [rng.standard_normal((n_samples, channels), dtype=np.float32) * np.float32(1e-5) for _ in range(subjects)]
    window = onset[:, None] + offsets  # (word, time)
    eeg = np.stack([signal[window].transpose(0, 2, 1) for signal in signals])  # (subject, word, channel, time)
    shifts = np.stack([relocation_shifts(onset, sid, np.ones(n_samples, bool), n_surrogates=101,
                                         span_samples=samples, seed=seed, key=str(j))[0] for j in range(subjects)])
    surrogates = SurrogateEpochs(signals=signals, onset_sample=np.tile(onset, (subjects, 1)), shifts=shifts,
                                 offsets=offsets, baseline=None)
    epochs = xr.DataArray(eeg, dims=("subject", "word", "channel", "time"),
                          coords={"subject": [f"sub-{i:02d}" for i in range(subjects)],
                                  "word": model["word"].values, "sentence_id": ("word", sid),
                                  "word_index": ("word", model["word_index"].values),
                                  "channel": [f"E{i:03d}" for i in range(channels)], "time": offsets / 128.0})
    return model, epochs, surrogates


def _study_grid_seconds(null_kind, data, *, n_perm, device):
    """Wall s of one study-shaped grid (one model, 4 windows × 7 regions, 10 metrics) on ``data``
    (:func:`make_shift_data`)."""
    import torch

    from hearlike.grid import compute_grid

    model, epochs, surrogates = data
    names = list(epochs["channel"].values)
    regions = {"all": names, **{f"r{i}": names[i * 10 : i * 10 + 10] for i in range(6)}}
    windows = [(f"w{i}", 250 * i, 250 * (i + 1)) for i in range(4)]
    metrics = [*STUDY_METRICS, "cka_debiased", "dcor_debiased"]
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    compute_grid({"m": model}, epochs, windows=windows, regions=regions, metrics=metrics, n_permutations=n_perm,
                 null_kind=null_kind, surrogates=surrogates if null_kind == "shift" else None,
                 factor_regions=["all"], device=device)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def project(args, device="cpu"):
    """The full study's grid in hours, from two study-shaped grids per null (4 windows × 7 regions, 10
    metrics, 100 permutations; each the fastest of 3 runs): one model of ``L1`` and of ``L2`` layers
    against the same subjects and sentences. Their difference is the cost of a layer (the model side and every comparison;
    for the shift null at least the swap null's, see below); the rest is the EEG side of a task (cells' geometry,
    surrogates), paid once per model group and subject block. The study: each dataset's subjects × sentences,
    12 models × 40 layers, grouped as the store groups them (2 GiB of compacted states per task: per-sentence Gram pseudo-features,
    float64, as wide as the longest sentence + 1; :mod:`hearlike.grid.compact`); 2 cores = 2 Dask
    workers."""
    import math

    import torch

    from hearlike.grid.store import STATES_BUDGET_BYTES

    torch.set_num_threads(1)
    (l1, l2), subjects, sentences, n_perm = ((1, 2), 1, 10, 10) if args.quick else ((2, 20), 2, 40, 100)
    repeats = 1 if args.quick else 3  # min of 3: the per-layer cost is a difference of two timings
    scale = 100 / n_perm
    units = subjects * sentences
    print(f"\nprojection ({device}): one model of {l1} and of {l2} layers × {subjects} subjects × {sentences} sentences "
          f"× 28 cells, 10 metrics, {n_perm} permutations")
    # models per task group as the store groups them (compacted states: as compact.compact_bytes counts)
    model_bytes = {name: STUDY_LAYERS * d["words"] * (STUDY_LONGEST + 1) * 8 for name, d in STUDY.items()}
    groups = {name: math.ceil(STUDY_MODELS / max(1, STATES_BUDGET_BYTES // nbytes)) for name, nbytes in model_bytes.items()}
    out = {"device": device, "assumptions": STUDY, "groups": groups}
    data = {layers: make_shift_data(sentences=sentences, layers=layers, features=1024, channels=64, samples=154,
                                    subjects=subjects) for layers in (l1, l2)}
    for null_kind in ("swap", "shift"):
        t1, t2 = (min(_study_grid_seconds(null_kind, data[layers], n_perm=n_perm, device=device)
                      for _ in range(repeats)) for layers in (l1, l2))
        own = max(0.0, (t2 - t1) / (l2 - l1)) / units * scale  # s per layer·subject·sentence
        # a layer costs the shift null at least what it costs the swap null (the same comparisons, one
        # per layer × cell × sentence × permutation); its own difference of two timings is swamped by
        # the run-to-run noise of its ~10x larger EEG side, so the larger of the two is used
        per_layer = own if null_kind == "swap" else max(own, out["swap"]["per_layer_unit_s"])
        fixed = max(0.0, t1 - l1 * per_layer * units / scale) / units * scale  # s per subject·sentence and task group
        seconds = sum(d["subjects"] * d["sentences"] * (STUDY_MODELS * STUDY_LAYERS * per_layer + groups[name] * fixed)
                      for name, d in STUDY.items())
        workers = 2 if device == "cpu" else 1
        hours = seconds / workers / 3600
        target = "< 6 h on 2 cores" if device == "cpu" else "< 10 min on one GPU"
        note = f" (its own difference: {own * 1e3:.2f})" if per_layer != own else ""
        print(f"  {null_kind:>5} null: {t1:.1f} s / {t2:.1f} s -> {per_layer * 1e3:.2f} ms per layer·subject·sentence{note}, "
              f"{fixed * 1e3:.1f} ms per subject·sentence of a task group;  full study ({groups} model "
              f"groups): {hours:.1f} h "
              f"({'2 cores' if workers == 2 else 'one GPU'})   [target {target}]")
        out[null_kind] = {"seconds": [t1, t2], "per_layer_unit_s": per_layer, "own_per_layer_unit_s": own,
                          "fixed_unit_s": fixed, "hours": hours}
    return out


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, in-process (seconds)")
    parser.add_argument("--permutations", type=int, nargs="+", default=[0, 100])
    parser.add_argument("--sentences", type=int, default=100)
    parser.add_argument("--sentences-1000", type=int, default=None,
                        help="sentences at >= 1000 permutations (the peers are slow; printed per row)")
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--features", type=int, default=1024)
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--samples", type=int, default=26)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs per tool and metric, each in its own process: the least wall time is printed")
    parser.add_argument("--tools", nargs="+", default=["numpy-loop", "rsatoolbox", "mne-rsa"])
    parser.add_argument("--scaling", action="store_true")
    parser.add_argument("--scaling-permutations", type=int, default=100)
    parser.add_argument("--projection", action="store_true")
    parser.add_argument("--no-compare", action="store_true", help="skip the peer comparison")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    data_kw = dict(sentences=args.sentences, layers=args.layers, words=12, features=args.features,
                   channels=args.channels, samples=args.samples)
    if args.quick:
        data_kw.update(sentences=6, layers=2, features=16, channels=8, samples=6)
        args.permutations = [0, 5]
        args.scaling_permutations = 5
    out = {"data": data_kw, "threads": args.threads, "rows": []}
    if not args.no_compare:
        print(f"anchor: {data_kw}, {args.threads} thread(s); speed-up = tool wall / hearlike wall")
        for n_perm in args.permutations:
            kw = data_kw
            if n_perm >= 1000 and args.sentences_1000:
                kw = {**data_kw, "sentences": args.sentences_1000}
            rows = compare_tools(args, kw, n_perm)
            print_rows(rows)
            out["rows"] += rows
    if args.scaling:
        out["scaling"] = scaling(args, data_kw)
    if args.projection:
        out["projection"] = [project(args)]
        if _cuda():
            out["projection"].append(project(args, device="cuda"))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
