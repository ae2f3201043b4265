"""Benchmark: what the timing-preserving ``shift`` null costs next to the ``swap`` null (never a test).

The same grid (one model, its layers × subjects × windows × regions, all ten metrics) is computed
with each null on the embedded null twin (``data/demo-null``, written by ``make book`` or
``python -m hearlike demo --null``). The swap null prepares every EEG representation once and
re-pairs sentences; the shift null cuts, for every permutation, new surrogate epochs from the
continuous recordings and prepares them again -- this prints how much that costs, and what each
null makes of noise-only EEG (the oracle's largest subject-mean excess, Spearman RSA).

    python bench/nulls.py                   # oracle, 100 permutations (about 2-3 min on 2 cores)
    python bench/nulls.py --permutations 20
    python bench/nulls.py --model all       # the 7 models in one grid: the shift null's preparation shared
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", default=str(ROOT / "params-null.yml"))
    parser.add_argument("--model", nargs="+", default=["oracle"],
                        help="models computed together in one grid (as one task of the grid store); 'all': the "
                             "parameter file's models")
    parser.add_argument("--permutations", type=int, default=100)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args(argv)

    import torch

    from hearlike import pipeline
    from hearlike.config import load_params
    from hearlike.grid import compute_grid

    logging.disable(logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    params = load_params(args.params)
    epochs = pipeline.epochs_of(params).load()  # read before any timing
    names = list(params.models) if args.model == ["all"] else args.model
    states = {name: pipeline.layer_states(params, name).load() for name in names}
    regions = pipeline.regions_of(params, epochs)
    metrics = [m for m in params.all_metrics if m not in ("procrustes", "svcca")]  # factor metrics: region "all" only in the study
    common = dict(windows=pipeline.windows_of(params), regions=regions, metrics=metrics,
                  n_permutations=args.permutations, seed=params.seed, min_words=params.min_words)
    start = time.perf_counter()
    surrogates = pipeline.surrogates_of(params, epochs, args.permutations)
    t_surrogates = time.perf_counter() - start
    results = {}
    for null in ("swap", "shift"):
        start = time.perf_counter()
        grid = compute_grid(states, epochs, null_kind=null, surrogates=surrogates if null == "shift" else None, **common)
        results[null] = (time.perf_counter() - start, grid)
    print(f"{params.dataset}: {', '.join(names)}, {len(metrics)} metrics, {epochs.sizes['subject']} subjects, "
          f"{len(common['windows'])} windows x {len(regions)} regions, {args.permutations} permutations")
    print(f"  surrogate set-up (recordings from cache, relocation draws): {t_surrogates:6.1f} s")
    for null, (seconds, grid) in results.items():
        excess = grid["excess"].sel(metric="spearman_rsa").mean("subject")
        print(f"  {null:5s} null: {seconds:6.1f} s   largest Spearman excess {float(excess.max()):+.4f}")
    print(f"  shift / swap time: {results['shift'][0] / results['swap'][0]:.1f}x")


if __name__ == "__main__":
    main()
