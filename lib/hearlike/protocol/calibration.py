"""False-positive rates of both protocols on the demo, side by side (the comparison chapter's numbers).

Controls that cannot align with the EEG are scored under each protocol, on the planted demo and on its
null twin (where nothing is planted):

- **random word states**: every word an independent Gaussian vector per layer (under the paper
  protocol each frame takes its word's vector, as the demo's real states do);
- **random frame states** (paper protocol only): every 20 ms frame an independent Gaussian vector.

The oracle (the demo's planted states) is scored beside them: on the planted demo it should align, on
the null twin it should not. A model "aligns" when some cell passes its protocol's claim:

- ``hearlike``: the book's group test (subjects and sentences random, the ``shift`` null),
  family-wise corrected over layers × windows × regions (:func:`hearlike.findings.common.group_p_values`);
- ``paper``: the subject-mean score beats the subject-mean frame-shuffle null at uncorrected p < .05 in
  some layer × window × electrode (or the electrode mean), as the study reports.

Rates come with one-sided 95 % Clopper-Pearson upper bounds (:func:`hearlike.stats.binomial_upper`).
This module reads :mod:`hearlike.pipeline` (cached states, epochs and recordings), so the package's
``__init__`` does not import it.
"""

from __future__ import annotations

import logging
import time
from typing import Sequence

import numpy as np
import pandas as pd
import xarray as xr

from ..config import Params

logger = logging.getLogger(__name__)

__all__ = ["random_word_states", "random_frame_states", "null_twin", "calibration_data", "protocol_calibration",
           "calibration_statement",
           "paired_presets", "ALPHA"]

ALPHA = 0.05


def random_word_states(template: xr.DataArray, *, n_models: int, n_layers: int = 2, n_features: int = 64,
                       seed: int = 1000) -> dict[str, xr.DataArray]:
    """``n_models`` models whose every word is an independent standard-normal vector per layer (dims layer, word, feature)."""
    out = {}
    for i in range(n_models):
        data = np.random.default_rng([seed, i]).standard_normal((n_layers, template.sizes["word"], n_features))
        out[f"random-word-{i:02d}"] = xr.DataArray(
            data, dims=("layer", "word", "feature"),
            coords={"layer": [f"random.{j}" for j in range(n_layers)], "word": template["word"].values,
                    "component": ("layer", ["random"] * n_layers),
                    "relative_depth": ("layer", np.linspace(0, 1, n_layers))})
    return out


def random_frame_states(*, n_models: int, n_layers: int = 2, n_features: int = 64, seed: int = 2000) -> dict:
    """``n_models`` per-frame random models for :func:`hearlike.protocol.paper.paper_grid` (``frame_states``)."""
    def make(i):
        def states(sentence_id: str, n: int) -> np.ndarray:
            key = [seed, i] + [ord(c) for c in sentence_id]
            return np.random.default_rng(key).standard_normal((n_layers, n, n_features))
        return states

    return {f"random-frame-{i:02d}": ([f"frame.{j}" for j in range(n_layers)], make(i)) for i in range(n_models)}


def null_twin(params: Params) -> Params:
    """The same parameters on the demo's null twin (``data/demo-null`` beside ``data/demo``).

    The cache folder stays the same, as in ``params-null.yml``: every cache is keyed by the data it
    comes from, so the twin's epochs computed here are the ones the book's null-twin grid reads."""
    return params.replace(dataset="demo-null", data_root=str(params.data_root.parent / "demo-null"))


def calibration_data(hearlike: Params, paper: Params) -> list[tuple[str, Params, Params]]:
    """``[(label, hearlike params, paper params)]``: the demo the presets point at, then its null twin when present.

    Raises
    ------
    ValueError
        When the presets are not on the demo (the calibration needs the demo's planted oracle).
    """
    if hearlike.dataset not in ("demo", "demo-null") or paper.dataset != hearlike.dataset:
        raise ValueError(f"the protocol calibration runs on the demo (its oracle states are planted); "
                         f"{hearlike.source} is on {hearlike.dataset!r}, {paper.source} on {paper.dataset!r}")
    label = {"demo": "planted demo", "demo-null": "null twin"}[hearlike.dataset]
    out = [(label, hearlike, paper)]
    twin = hearlike.data_root.parent / "demo-null" / "ground_truth.json"
    if hearlike.dataset == "demo" and twin.is_file():
        out.append(("null twin", null_twin(hearlike), null_twin(paper)))
    elif hearlike.dataset == "demo":
        logger.warning("no null twin at %s (write it with `python -m hearlike demo --null`); calibrating on the "
                       "planted demo only", twin.parent)
    return out


def _hearlike_claims(params: Params, *, n_models: int, n_layers: int, n_permutations: int,
                     regions: Sequence[str], seed: int) -> tuple[pd.Series, dict]:
    from .. import pipeline
    from ..findings.common import group_p_values
    from ..grid import compute_grid

    epochs = pipeline.epochs_of(params)
    all_regions = pipeline.regions_of(params, epochs)
    chosen = {r: all_regions[r] for r in regions if r in all_regions}
    oracle = pipeline.layer_states(params, "oracle")
    states = {"oracle": oracle} | random_word_states(oracle, n_models=n_models, n_layers=n_layers)
    grid = compute_grid(states, epochs, windows=pipeline.windows_of(params), regions=chosen, metrics=["spearman_rsa"],
                        n_permutations=n_permutations, seed=params.seed, min_words=params.min_words, null_kind="shift",
                        surrogates=pipeline.surrogates_of(params, epochs, n_permutations), keep_null=True,
                        keep_sentences=True)
    grid["group_null"] = grid["null"].mean("subject")
    tests = group_p_values(grid, random="both", n_permutations=1000, seed=seed).sel(metric="spearman_rsa")
    aligns = (tests["p_fwe"].min(["layer", "window", "region"]) < ALPHA).to_series()
    randoms = [m for m in states if m != "oracle"]
    p = tests["p"].sel(model=randoms).values
    p = p[np.isfinite(p)]
    return aligns, {"random word states": (int((p < ALPHA).sum()), int(p.size))}


def _paper_claims(params: Params, *, n_models: int, n_layers: int, n_permutations: int, windows: Sequence[str],
                  seed: int) -> tuple[pd.Series, dict]:
    from .. import pipeline
    from ..stats import permutation_p_value
    from .paper import MEAN_REGION, paper_grid

    oracle = pipeline.layer_states(params, "oracle")
    words = random_word_states(oracle, n_models=n_models, n_layers=n_layers)
    frames = random_frame_states(n_models=n_models, n_layers=n_layers)
    chosen = [w for w in params.windows if w[0] in windows] or list(params.windows[:1])
    grid = paper_grid({"oracle": oracle} | words, pipeline.recordings_of(params), pipeline.stimuli_of(params),
                      windows=chosen, metrics=["spearman_rsa"], n_permutations=n_permutations, seed=params.seed,
                      min_frames=params.min_words, keep_sentences=False, frame_states=frames)
    observed = grid["score"].mean("subject").sel(metric="spearman_rsa")
    p = permutation_p_value(observed, grid["group_null"].sel(metric="spearman_rsa"), dim="permutation")
    aligns = (p.min(["layer", "window", "region"]) < ALPHA).to_series()
    cells = {}
    for kind, models in (("random word states", list(words)), ("random frame states", list(frames))):
        values = p.sel(model=models).drop_sel(region=MEAN_REGION).values
        values = values[np.isfinite(values)]
        cells[kind] = (int((values < ALPHA).sum()), int(values.size))
    return aligns, cells


def protocol_calibration(hearlike: Params, paper: Params, *, n_models: int = 8, n_layers: int = 2,
                         n_permutations: int = 20, regions: Sequence[str] = ("all", "central", "parietal"),
                         paper_windows: Sequence[str] = ("N400",), seed: int = 0) -> dict:
    """False positives of random-state controls, and the oracle's recovery, under both protocols.

    Parameters
    ----------
    hearlike, paper : Params
        The two presets on the planted demo (``params.yml``, ``params-paper.yml``); the null twin is
        :func:`null_twin` of each.
    n_models, n_layers : int
        Random models per kind and their layers (kept small: the chapter's budget is ~2 min on 2 cores).
    n_permutations : int
        Null samples of both protocols' grids (the study uses 500 frame shuffles; this is a demo).
    regions : sequence of str
        hearlike regions scored (all windows of ``hearlike``).
    paper_windows : sequence of str
        Window names of ``paper`` scored (all electrodes).

    Returns
    -------
    dict
        ``table`` (DataFrame: protocol, data, control, claim, positives, out of, rate, upper 95 %),
        ``oracle`` (DataFrame: protocol × data, whether the oracle aligns), ``seconds``, and the sizes used.
    """
    from ..stats import binomial_upper

    start = time.perf_counter()
    rows, oracle = [], []
    for data, h, p in calibration_data(hearlike, paper):
        for protocol, run in (("hearlike", lambda: _hearlike_claims(h, n_models=n_models, n_layers=n_layers,
                                                                     n_permutations=n_permutations, regions=regions,
                                                                     seed=seed)),
                              ("paper", lambda: _paper_claims(p, n_models=n_models, n_layers=n_layers,
                                                               n_permutations=n_permutations, windows=paper_windows,
                                                               seed=seed))):
            aligns, cells = run()
            oracle.append({"protocol": protocol, "data": data, "oracle aligns": bool(aligns["oracle"])})
            for kind, prefix in (("random word states", "random-word-"), ("random frame states", "random-frame-")):
                models = [m for m in aligns.index if m.startswith(prefix)]
                if not models:
                    continue
                k = int(aligns[models].sum())
                rows.append({"protocol": protocol, "data": data, "control": kind, "claim": "model aligns",
                             "positives": k, "out of": len(models)})
                k, n = cells[kind]
                rows.append({"protocol": protocol, "data": data, "control": kind, "claim": "cell p < .05",
                             "positives": k, "out of": n})
    table = pd.DataFrame(rows)
    table["rate"] = table["positives"] / table["out of"]
    table["upper 95 %"] = [binomial_upper(k, n) for k, n in zip(table["positives"], table["out of"])]
    seconds = time.perf_counter() - start
    logger.info("protocol calibration: %.0f s", seconds)
    return {"table": table, "oracle": pd.DataFrame(oracle), "seconds": seconds, "n_models": n_models,
            "n_layers": n_layers, "n_permutations": n_permutations, "regions": list(regions),
            "paper_windows": list(paper_windows)}


#: what the comparison takes from the parameter file the book was built with, so both presets read the same data
SHARED_KEYS = ("dataset", "data_root", "cache_dir", "models", "seed")


def paired_presets(built_with: Params, *, hearlike_file, paper_file) -> tuple[Params, Params]:
    """``(hearlike, paper)`` presets on the data and models of ``built_with`` (the book's parameter file).

    ``built_with`` is one of the two (by its ``protocol``); the other is loaded from its file with
    :data:`SHARED_KEYS` taken from ``built_with``.
    """
    from ..config import load_params

    shared = {k: v for k, v in built_with.to_dict().items() if k in SHARED_KEYS}
    if built_with.protocol == "paper":
        return load_params(hearlike_file, shared), built_with
    return built_with, load_params(paper_file, shared)


def calibration_statement(result: dict) -> str:
    """Markdown: what the calibration says about each protocol's claims, from its numbers."""
    table = result["table"]
    parts = []
    for protocol in ("hearlike", "paper"):
        rows = table[table["protocol"] == protocol]
        if rows.empty:
            continue
        models = rows[rows["claim"] == "model aligns"]
        k, n = int(models["positives"].sum()), int(models["out of"].sum())
        worst = models.loc[models["rate"].idxmax()]
        text = (f"Under the **{protocol}** protocol, {k} of {n} random-state models (all controls and data) "
                f"were claimed to align; the highest rate was {worst['rate']:.0%} ({worst['control']}, "
                f"{worst['data']}; 95 % upper bound {worst['upper 95 %']:.0%}).")
        cells = rows[rows["claim"] == "cell p < .05"]
        rates = "; ".join(f"{r['control']}, {r['data']}: {r['rate']:.1%} of {int(r['out of'])}"
                          for _, r in cells.iterrows())
        parts.append(text + f" Single cells at p < .05 (nominal 5 %): {rates}.")
    oracle = result["oracle"].set_index(["protocol", "data"])["oracle aligns"]
    verbs = {"planted demo": ("finds it", "misses it"), "null twin": ("claims it", "does not claim it")}
    found = [f"`{p}` " + " and ".join(f"{verbs[d][0] if oracle[(p, d)] else verbs[d][1]} on the {d}"
                                       for d in ("planted demo", "null twin") if (p, d) in oracle.index)
             for p in ("hearlike", "paper") if p in oracle.index.get_level_values("protocol")]
    parts.append("The planted effect (the oracle, where a null twin has nothing to find): " + "; ".join(found) + ".")
    return " ".join(parts)
