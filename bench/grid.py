"""Benchmark: the Spearman-RSA grid by hearlike vs rsatoolbox vs mne-rsa (never a test).

The same grid -- sentences × layers × (1 subject × windows × regions) cells, with a within-sentence
permutation null -- is computed three ways, each in its own process (so peak memory is its own):

* hearlike: ``hearlike.grid.compute_grid(metrics=["spearman_rsa"])``;
* rsatoolbox: per sentence, the layer RDMs and the cell RDMs are computed once with
  ``rsatoolbox.rdm.calc_rdm``; all permuted cell RDMs of the sentence are stacked into one ``RDMs``
  object and compared with every layer RDM in one vectorised ``rsatoolbox.rdm.compare`` call;
* mne-rsa: the same with ``mne_rsa.compute_rdm`` and one ``mne_rsa.rsa`` call per sentence.

All use hearlike's permutations (:func:`hearlike.grid.sentence_permutations`), so the scores and the
null samples must agree; the script asserts it. Prints wall time, peak RSS increase and ratios.

    python bench/grid.py                       # small: ~1-2 min on 2 cores
    python bench/grid.py --full                # 200 sentences × 32 layers × 4 windows × 6 regions, 100 perms
    python bench/grid.py --scaling             # hearlike alone: time vs sentences, layers, permutations
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import time

WINDOWS = [("w0", 0, 100), ("w1", 100, 200), ("w2", 200, 300), ("w3", 300, 400)]


def make_data(n_sentences, n_layers, n_features, n_channels, sfreq, seed):
    import numpy as np
    import xarray as xr

    rng = np.random.default_rng(seed)
    lengths = rng.integers(6, 17, size=n_sentences)
    sid = np.repeat([f"s{i:04d}" for i in range(n_sentences)], lengths)
    widx = np.concatenate([np.arange(n) for n in lengths])
    words = [f"{s}:{k}" for s, k in zip(sid, widx)]
    n_words = len(words)
    latent = rng.standard_normal((n_words, 4))
    states = latent @ rng.standard_normal((n_layers, 4, n_features)) + rng.standard_normal((n_layers, n_words, n_features))
    n_times = int(0.4 * sfreq)
    channels = [f"E{i:02d}" for i in range(n_channels)]
    eeg = (latent @ rng.standard_normal((4, n_channels * n_times))).reshape(1, n_words, n_channels, n_times)
    eeg = eeg + 3 * rng.standard_normal(eeg.shape)
    word_coords = {"word": words, "sentence_id": ("word", sid), "word_index": ("word", widx)}
    model = xr.DataArray(
        states.astype(np.float32), dims=("layer", "word", "feature"),
        coords={"layer": [f"decoder.{i}" for i in range(n_layers)], **word_coords},
    )
    epochs = xr.DataArray(
        (eeg * 1e-6).astype(np.float32), dims=("subject", "word", "channel", "time"),
        coords={"subject": ["sub-01"], "channel": channels, "time": np.arange(n_times) / sfreq, **word_coords},
    )
    per = n_channels // 6
    regions = {f"r{i}": channels[i * per : (i + 1) * per] for i in range(6)}
    return model, epochs, regions


def _cells(epochs, regions):
    """(window, region) -> (channel index, time index), in grid order."""
    import numpy as np

    names = list(epochs["channel"].values)
    t_ms = epochs["time"].values * 1000
    return [
        (np.array([names.index(c) for c in chans]), np.nonzero((t_ms >= a) & (t_ms < b))[0])
        for _, a, b in WINDOWS
        for chans in regions.values()
    ]


def run_hearlike(model, epochs, regions, n_perm):
    from hearlike.grid import compute_grid

    ds = compute_grid({"m": model}, epochs, windows=WINDOWS, regions=regions, metrics=["spearman_rsa"],
                      n_permutations=n_perm, seed=0, keep_null=True, null_kind="shuffle")
    ds = ds.isel(model=0, subject=0, metric=0)
    score = ds["score"].values.reshape(model.sizes["layer"], -1)  # (layer, window·region)
    null = ds["null"].transpose("permutation", ...).values.reshape(n_perm, model.sizes["layer"], -1)
    return score, null


def _sentences(model, epochs, regions, n_perm):
    """Yield (layer data (L, n, d), cell data list of (n, f), perms (P, n)) per sentence, sorted ids."""
    import numpy as np

    from hearlike.grid import sentence_permutations

    sids = epochs["sentence_id"].values
    cells = _cells(epochs, regions)
    eeg = epochs.values[0]
    states = model.values
    for sid in sorted(set(sids.tolist())):
        rows = np.nonzero(sids == sid)[0]
        rows = rows[np.argsort(epochs["word_index"].values[rows])]
        n = len(rows)
        x = states[:, rows].astype(np.float64)
        ys = [eeg[rows][:, ch][:, :, tt].reshape(n, -1).astype(np.float64) for ch, tt in cells]
        yield x, ys, sentence_permutations(sid, n, n_perm, seed=0)


def _permuted_vectors(vectors, perms):
    """Condensed RDMs (C, m) -> (C·(P+1), m): identity first, then each permutation (y[perm])."""
    import numpy as np
    from scipy.spatial.distance import squareform

    mats = np.stack([squareform(v) for v in vectors])  # (C, n, n)
    n = mats.shape[-1]
    iu = np.triu_indices(n, 1)
    orders = np.vstack([np.arange(n), perms])  # (P+1, n)
    permuted = mats[:, orders[:, :, None], orders[:, None, :]]  # (C, P+1, n, n)
    return permuted[..., iu[0], iu[1]].transpose(1, 0, 2).reshape(-1, len(iu[0]))  # perm-major


def run_rsatoolbox(model, epochs, regions, n_perm):
    import numpy as np
    import rsatoolbox

    n_layers, n_cells = model.sizes["layer"], len(WINDOWS) * len(regions)
    total = np.zeros((n_perm + 1, n_layers, n_cells))
    count = 0
    for x, ys, perms in _sentences(model, epochs, regions, n_perm):
        layer_rdms = rsatoolbox.rdm.calc_rdm([rsatoolbox.data.Dataset(a) for a in x], method="correlation")
        cell_rdms = rsatoolbox.rdm.calc_rdm([rsatoolbox.data.Dataset(y) for y in ys], method="correlation")
        stacked = rsatoolbox.rdm.RDMs(_permuted_vectors(cell_rdms.get_vectors(), perms))
        sim = rsatoolbox.rdm.compare(layer_rdms, stacked, method="spearman")  # (L, (P+1)·C)
        total += sim.reshape(n_layers, n_perm + 1, n_cells).transpose(1, 0, 2)
        count += 1
    total /= count
    return total[0], total[1:]


def run_mne_rsa(model, epochs, regions, n_perm):
    import mne_rsa
    import numpy as np

    n_layers, n_cells = model.sizes["layer"], len(WINDOWS) * len(regions)
    total = np.zeros((n_perm + 1, n_layers, n_cells))
    count = 0
    for x, ys, perms in _sentences(model, epochs, regions, n_perm):
        layer_rdms = [mne_rsa.compute_rdm(a, metric="correlation") for a in x]
        cell_rdms = np.stack([mne_rsa.compute_rdm(y, metric="correlation") for y in ys])
        stacked = list(_permuted_vectors(cell_rdms, perms))
        sim = mne_rsa.rsa(stacked, layer_rdms, metric="spearman")  # ((P+1)·C, L)
        total += sim.reshape(n_perm + 1, n_cells, n_layers).transpose(0, 2, 1)
        count += 1
    total /= count
    return total[0], total[1:]


RUNNERS = {"hearlike": run_hearlike, "rsatoolbox": run_rsatoolbox, "mne-rsa": run_mne_rsa}


def _child(name, args, queue):
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    import hearlike.grid  # noqa: F401  (imports are not part of the timing)
    import mne_rsa  # noqa: F401
    import rsatoolbox  # noqa: F401

    data = make_data(args.sentences, args.layers, args.features, args.channels, args.sfreq, args.seed)
    base = _reset_peak_rss_kib()
    start = time.perf_counter()
    score, null = RUNNERS[name](*data, args.permutations)
    wall = time.perf_counter() - start
    peak = _peak_rss_kib() - base
    queue.put((name, wall, peak / 1024, np.asarray(score), np.asarray(null)))


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
    except OSError:  # not Linux: fall back to the lifetime peak
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _peak_rss_kib():
    try:
        return _status_kib("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _run(name, args):
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def compare(args):
    import numpy as np

    print(f"Spearman-RSA grid: {args.sentences} sentences (6-16 words) × {args.layers} layers (d={args.features})"
          f" × {len(WINDOWS)} windows × 6 regions ({args.channels} channels, {args.sfreq:.0f} Hz),"
          f" {args.permutations} permutations, {args.threads} thread(s)")
    results = {name: _run(name, args) for name in args.tools}
    ref = results["hearlike"]
    print(f"{'tool':<12}{'wall s':>10}{'peak MiB':>10}{'hearlike/tool':>16}{'max |Δscore|':>15}{'max |Δnull|':>14}")
    for name, wall, peak, score, null in results.values():
        d_score = np.abs(score - ref[3]).max()
        d_null = np.abs(null - ref[4]).max()
        print(f"{name:<12}{wall:>10.2f}{peak:>10.0f}{ref[1] / wall:>16.3f}{d_score:>15.2e}{d_null:>14.2e}")
        assert d_score < 1e-9 and d_null < 1e-9, f"{name} disagrees with hearlike"


def scaling(args):
    base = dict(sentences=args.sentences, layers=args.layers, permutations=args.permutations)
    print(f"hearlike scaling (base: {base}); wall s")
    for key in ("sentences", "layers", "permutations"):
        row = []
        for factor in (1, 2, 4):
            sub = argparse.Namespace(**{**vars(args), key: base[key] * factor, "tools": ["hearlike"]})
            row.append(f"×{factor}: {_run('hearlike', sub)[1]:.2f}")
        print(f"  {key:<13}" + "   ".join(row))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=40)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--permutations", type=int, default=20)
    parser.add_argument("--features", type=int, default=256)
    parser.add_argument("--channels", type=int, default=60)
    parser.add_argument("--sfreq", type=float, default=128.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tools", nargs="+", default=list(RUNNERS), choices=list(RUNNERS))
    parser.add_argument("--full", action="store_true", help="200 sentences × 32 layers, 100 permutations")
    parser.add_argument("--scaling", action="store_true", help="time hearlike alone at ×1, ×2, ×4 sizes")
    args = parser.parse_args(argv)
    if args.full:
        args.sentences, args.layers, args.permutations, args.features = 200, 32, 100, 1024
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    if "hearlike" not in args.tools:
        args.tools = ["hearlike", *args.tools]
    if args.scaling:
        scaling(args)
    else:
        compare(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
