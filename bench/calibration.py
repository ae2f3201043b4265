"""Calibration: how often the book's group claims fire for models that cannot align (and that planted ones do).

Random-state models -- every word an independent Gaussian vector per layer, so nothing in them
relates to the EEG -- are scored with Spearman RSA against the **planted** demo (``data/demo``)
and against null twins written with different seeds (``cache/calibration/demo-null-seed<k>``, made
here when missing; seed 0 is the book's ``data/demo-null``), under the study's ``shift`` null. For each group test the family-wise false-positive
rate of each claim is counted over random models (with a Clopper-Pearson 95 % upper bound), and
the oracle's planted effect on the demo must still be found.

Group tests compared (:func:`hearlike.findings.common.group_p_values`):

``subject``  subjects random, sentences fixed (subject-mean score against the subject-mean shift null)
``item``     sentences random: per-sentence excess over the shift null, averaged over subjects, sign-flipped
``both``     the conjunction (a cell is significant only when both tests say so) -- the book's test

Claims (per model; FWE over layers × windows × regions), each decided by the book's own function:

``aligns``        some cell has p_FWE < .05 (finding 1 "aligns")
``peak``          the peak layer of the target window (250-500 ms, region all) has p_FWE < .05 (finding 2)
``n400``          the target window beats every other window at the cross-fitted peak layer, Holm p < .05
                  (finding 2, :func:`hearlike.findings.spacetime.spatiotemporal`'s ``n400_models``)
``interaction``   the family × prosody interaction of finding 3 (negative vs other TNC sentences,
                  geometric vs covariance metric, length- and rate-stratified, two-sided) has p < .05
                  (:func:`hearlike.findings.affect.dissociation`; Spearman RSA and linear CKA, one per family)
``cell``          (per cell, not per model) uncorrected p < .05: the nominal rate is 5 %

The ``n400`` and ``interaction`` claims do not depend on the group test (they are paired tests over
subjects and over sentences); they are counted under the book's test ("both").
A false-positive rate is bounded at 5 % (one-sided 95 % Clopper-Pearson) only from 59 clean models on;
the full run scores 60 random models on the planted demo and 12 on each of 5 null twins (60 pooled).

    python bench/calibration.py               # 60 models (12 per twin) × 12 layers, 5 twins, 100 permutations
    python bench/calibration.py --quick       # 10 models × 4 layers, 2 twins, 50 permutations, 3 regions
    python bench/calibration.py --out results/calibration.json
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import xarray as xr

ROOT = Path(__file__).resolve().parents[1]
TESTS = ("subject", "item", "both")
CLAIMS = ("aligns", "peak")  # per model, per group test; "cell" (per cell, uncorrected) is added by run()
BOOK_CLAIMS = ("n400", "interaction")  # per model, the book's test only
FAMILY_METRICS = ("spearman_rsa", "linear_cka")  # one geometric, one covariance metric (finding 3)


def random_models(template: xr.DataArray, *, n_models: int, n_layers: int, n_features: int = 64,
                  seed: int = 1000) -> dict[str, xr.DataArray]:
    """``n_models`` random-state models on the words of ``template`` (dims layer, word, feature)."""
    words = template["word"]
    out = {}
    for i in range(n_models):
        rng = np.random.default_rng([seed, i])
        data = rng.standard_normal((n_layers, words.size, n_features))
        layers = [f"random.{j}" for j in range(n_layers)]
        out[f"random-{i:02d}"] = xr.DataArray(
            data, dims=("layer", "word", "feature"),
            coords={"layer": layers, "word": words.values,
                    "component": ("layer", ["random"] * n_layers),
                    "relative_depth": ("layer", np.linspace(0, 1, n_layers))})
    return out


def claims(grid: xr.Dataset, *, target_window: str, n_permutations: int, seed: int) -> dict[str, xr.DataArray]:
    """``{test: DataArray (claim, model) of bool}`` for every group test (Spearman RSA cells)."""
    from hearlike.findings.common import group_p_values

    out = {}
    g = grid.sel(metric=["spearman_rsa"])
    for test in TESTS:
        p_fwe = group_p_values(g, random=test, n_permutations=n_permutations, seed=seed)["p_fwe"].sel(
            metric="spearman_rsa")
        aligns = p_fwe.min(["layer", "window", "region"]) < 0.05
        profile = g["excess"].sel(metric="spearman_rsa", window=target_window, region="all").mean("subject")
        peak = profile.fillna(-np.inf).idxmax("layer")
        peak_sig = p_fwe.sel(window=target_window, region="all").sel(layer=peak) < 0.05
        out[test] = xr.concat([aligns, peak_sig.drop_vars("layer", errors="ignore")],
                              dim=xr.DataArray(list(CLAIMS), dims="claim"))
    return out


def book_claims(grid: xr.Dataset, labels, rate, *, target_window: str, seed: int,
                n_permutations: int = 1000, sentence_grid: xr.Dataset | None = None) -> xr.DataArray:
    """DataArray (claim, model) of bool: finding 2's N400 window claim and finding 3's interaction claim,
    each decided by the function the book's chapter calls.

    ``labels``: TNC labels (:func:`hearlike.pipeline.tnc_of`); ``rate``: speech rate per sentence
    (:func:`hearlike.findings.affect.speech_rate`); ``sentence_grid``: the per-sentence scores of
    finding 3 (the book's: the within-sentence shuffle null, :func:`within_sentence_grid`; None: ``grid``'s
    own). The interaction needs both metric families (:data:`FAMILY_METRICS`); without them it is all False.
    """
    from hearlike.findings.affect import dissociation
    from hearlike.findings.spacetime import spatiotemporal

    models = [str(m) for m in grid["model"].values]
    result = spatiotemporal(grid.sel(metric=["spearman_rsa"]), metric="spearman_rsa", target_window=target_window,
                            seed=seed)
    n400 = xr.DataArray([m in result["n400_models"] for m in models], dims="model", coords={"model": models})
    interaction = xr.zeros_like(n400)
    if all(m in grid["metric"].values for m in FAMILY_METRICS):
        out = dissociation(grid, labels, metrics=list(FAMILY_METRICS), peak_metric="spearman_rsa",
                           target_window=target_window, n_permutations=n_permutations, seed=seed, rate=rate,
                           sentence_grid=sentence_grid)
        if out["contrast"] is not None:
            p = out["contrast"]["p_interaction"].reindex(model=models)
            interaction = (p < 0.05).fillna(False)
    return xr.concat([n400, interaction.drop_vars([c for c in interaction.coords if c != "model"])],
                     dim=xr.DataArray(list(BOOK_CLAIMS), dims="claim"))


def cell_rates(grid: xr.Dataset, *, models: list[str], n_permutations: int, seed: int) -> dict[str, tuple[int, int]]:
    """``{test: (cells with uncorrected p < .05, cells)}`` over the ``models``' layer × window × region cells."""
    from hearlike.findings.common import group_p_values

    g = grid.sel(metric=["spearman_rsa"], model=models)
    out = {}
    for test in TESTS:
        p = group_p_values(g, random=test, n_permutations=n_permutations, seed=seed)["p"]
        p = p.values[np.isfinite(p.values)]
        out[test] = (int((p < 0.05).sum()), int(p.size))
    return out


def run(*, quick: bool, n_models: int, n_twins: int, n_permutations: int, seed: int = 0,
        twin_models: int | None = None) -> dict:
    """Score random-state models on the planted demo (``n_models``) and ``n_twins`` null twins
    (``twin_models`` each, default ``n_models``); returns the rows that :func:`table` prints."""
    from hearlike import pipeline
    from hearlike.config import load_params
    from hearlike.demo import write_demo
    from hearlike.grid import compute_grid

    n_layers = 4 if quick else 12
    base = load_params(ROOT / "params.yml")
    datasets = [("demo", base)]
    for k in range(n_twins):  # seed 0 is the book's null twin (data/demo-null)
        root = ROOT / "data" / "demo-null" if k == 0 else ROOT / "cache" / "calibration" / f"demo-null-seed{k}"
        write_demo(root, null=True, seed=k)
        cache = ROOT / "cache" / ("demo-null" if k == 0 else f"demo-null-seed{k}")
        datasets.append((f"null twin seed {k}", base.replace(dataset="demo-null", data_root=str(root),
                                                              cache_dir=str(cache))))
    regions_wanted = ["all", "central", "parietal"] if quick else None
    windows = pipeline.windows_of(base)
    target = "250-500" if "250-500" in [w[0] for w in windows] else windows[1][0]
    rows, recovered = [], {}
    from hearlike.findings.affect import speech_rate

    for name, params in datasets:
        start = time.perf_counter()
        n_random = n_models if name == "demo" else (twin_models or n_models)
        epochs = pipeline.epochs_of(params)
        regions = pipeline.regions_of(params, epochs)
        if regions_wanted:
            regions = {r: regions[r] for r in regions_wanted if r in regions}
        oracle = pipeline.layer_states(params, "oracle")
        states = {"oracle": oracle} | random_models(oracle, n_models=n_random, n_layers=n_layers)
        grid = compute_grid(states, epochs, windows=windows, regions=regions, metrics=list(FAMILY_METRICS),
                            n_permutations=n_permutations, seed=params.seed, min_words=params.min_words,
                            null_kind="shift", surrogates=pipeline.surrogates_of(params, epochs, n_permutations),
                            keep_null=True, keep_sentences=True)
        grid["group_null"] = grid["null"].mean("subject")
        result = claims(grid, target_window=target, n_permutations=1000, seed=seed)
        randoms = [m for m in states if m != "oracle"]
        for test, table in result.items():
            for claim in CLAIMS:
                k = int(table.sel(model=randoms, claim=claim).sum())
                rows.append(dict(data=name, test=test, claim=claim, false_positives=k, n_models=n_random))
            recovered[f"{name}|{test}"] = bool(table.sel(claim="aligns", model="oracle"))
        labels, rate = pipeline.tnc_of(params)["labels"], speech_rate(pipeline.stimuli_of(params))
        # finding 3's per-sentence scores, as the book computes them (pipeline.within_sentence_grid)
        within = compute_grid(states, epochs, windows=[w for w in windows if w[0] == target],
                              regions={"all": regions["all"]}, metrics=list(FAMILY_METRICS),
                              n_permutations=n_permutations, seed=params.seed, min_words=params.min_words,
                              null_kind="shuffle", keep_sentences=True)
        book = book_claims(grid, labels, rate, target_window=target, seed=seed, sentence_grid=within)
        shift_only = book_claims(grid, labels, rate, target_window=target, seed=seed)
        rows.append(dict(data=name, test="shift null per sentence", claim="interaction", n_models=n_random,
                         false_positives=int(shift_only.sel(model=randoms, claim="interaction").sum())))
        for claim in BOOK_CLAIMS:
            rows.append(dict(data=name, test="both", claim=claim, n_models=n_random,
                             false_positives=int(book.sel(model=randoms, claim=claim).sum())))
        recovered[f"{name}|n400"] = bool(book.sel(claim="n400", model="oracle"))
        for test, (k, n) in cell_rates(grid, models=randoms, n_permutations=1000, seed=seed).items():
            rows.append(dict(data=name, test=test, claim="cell", false_positives=k, n_models=n))
        logging.getLogger(__name__).info("%s: %.0f s", name, time.perf_counter() - start)
    return dict(rows=rows, oracle_aligned=recovered, n_models=n_models, twin_models=twin_models or n_models,
                n_layers=n_layers, n_twins=n_twins, metrics=list(FAMILY_METRICS),
                n_permutations=n_permutations, quick=quick, regions=regions_wanted or "all study regions")


def table(result: dict) -> str:
    """claim × data × test: false positives, rate and its 95 % upper bound (null twins pooled), and recovery."""
    from hearlike.methods import calibration_table

    frame = calibration_table(result)
    return (frame.to_string(index=False, formatters={"rate": "{:.1%}".format, "upper 95 %": "{:.1%}".format})
            + "\noracle aligned (planted effect recovered): "
            + ", ".join(f"{key}={'yes' if v else 'NO'}" for key, v in result["oracle_aligned"].items()))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--models", type=int, default=None, help="random models on the planted demo (60; quick 10)")
    parser.add_argument("--twin-models", type=int, default=None, help="random models per null twin (12; quick 10)")
    parser.add_argument("--twins", type=int, default=None)
    parser.add_argument("--permutations", type=int, default=None)
    parser.add_argument("--out", default=None, help="write the result as JSON here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("hearlike", "mne"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    result = run(quick=args.quick, n_models=args.models or (10 if args.quick else 60),
                 twin_models=args.twin_models or (10 if args.quick else 12),
                 n_twins=args.twins if args.twins is not None else (2 if args.quick else 5),
                 n_permutations=args.permutations or (50 if args.quick else 100))
    print(table(result))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    main()
