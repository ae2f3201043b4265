"""Writing the demo: the BIDS tree, the reference models' states, the ground truth, and the checks
that keep :func:`write_demo` from deleting anything it did not write."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from tqdm.auto import tqdm

from .. import __version__
from ..cache import atomic_path, write_netcdf
from ..text import embed_texts
from ..tts import NEGATIVE_PROSODY, NORMAL_PROSODY
from .generate import (
    _STREAM, ACOUSTIC_FEATURES, AMPLITUDES_UV, CENTRO_PARIETAL, EARLY_WINDOW_MS, FRONTO_CENTRAL,
    LINE_FREQ_HZ, MEANING_DEPTH_SD, MEANING_ENVELOPE_M, MONTAGE, N400_PEAK_MS, N400_WINDOW_MS,
    NEGATIVE_MEANING_SCALE, ORACLE_NOISE, PLANTED_PEAK_RELATIVE_DEPTH, PROSODY_MODEL,
    PROSODY_OFFSET_SCALE, SALIENCE_ENVELOPE_M, SENTENCE_GIST_SCALE, SFREQ_HZ, TASK, _background,
    _oracle_states, _planted_patterns, _prosody_model_states, _rng, _stimulus_locked, _subject_ids,
    _timeline, _word_coords, oracle_layer_weights,
)  # fmt: skip
from .sentences import _write_stimuli, load_sentence_list, word_acoustic_features

logger = logging.getLogger(__name__)

_MEAS_DATE = datetime(2000, 1, 1, tzinfo=timezone.utc)


def demo_paths(root):
    """Where :func:`write_demo` puts each part of the demo under ``root``.

    Returns
    -------
    dict of str to Path
        ``stimuli`` (the ``stimuli.tsv``), ``audio`` (folder), ``bids`` (BIDS root), ``states``
        (folder of model-states netCDF; the oracle is ``states/oracle.nc``), ``oracle``,
        ``ground_truth`` (json), ``patterns`` (``ground_truth.nc``).
    """
    root = Path(root)
    return {
        "root": root, "stimuli": root / "stimuli" / "stimuli.tsv", "audio": root / "stimuli" / "audio",
        "bids": root / "bids", "states": root / "states", "oracle": root / "states" / "oracle.nc",
        "ground_truth": root / "ground_truth.json", "patterns": root / "ground_truth.nc",
    }  # fmt: skip


def _write_subject(bids_root, subject, data_uv, names, table, onset_samples, sfreq_hz, scratch):
    import mne
    import mne_bids
    import pybv

    pybv.write_brainvision(
        data=data_uv * 1e-6, sfreq=sfreq_hz, ch_names=names, fname_base=f"sub-{subject}",
        folder_out=scratch, fmt="binary_int16", resolution=0.1, unit="µV", meas_date=_MEAS_DATE,
        overwrite=True,
    )  # fmt: skip
    raw = mne.io.read_raw_brainvision(Path(scratch) / f"sub-{subject}.vhdr", preload=False, verbose="error")
    raw.set_montage(MONTAGE, verbose="error")
    raw.info["line_freq"] = LINE_FREQ_HZ
    events = np.column_stack([onset_samples, np.zeros_like(onset_samples), np.ones_like(onset_samples)])
    metadata = pd.DataFrame({
        "sentence_id": table.sentence_id.to_numpy(str), "word_index": table.word_index.to_numpy(int),
        "word": table.word.to_numpy(str),
    })  # fmt: skip
    order = np.argsort(onset_samples, kind="stable")
    durations = (table.offset_s - table.onset_s).to_numpy()
    path = mne_bids.BIDSPath(root=bids_root, subject=subject, task=TASK, datatype="eeg")
    # the int16 BrainVision file written above is copied as is (allow_preload=True with
    # format="BrainVision" would convert it to float32 and double the size on disk)
    mne_bids.write_raw_bids(
        raw, path, events=events[order], event_id={"word": 1},
        event_metadata=metadata.iloc[order].reset_index(drop=True),
        extra_columns_descriptions={
            "sentence_id": "stimulus sentence identifier (stimuli/stimuli.tsv of the demo)",
            "word_index": "0-based index of the word in its sentence",
            "word": "the word as written in the stimulus table",
        },
        overwrite=True, verbose="error",
    )  # fmt: skip
    _rewrite_events(path, table.iloc[order], onset_samples[order], durations[order], sfreq_hz)


def _rewrite_events(path, words, onset_samples, durations, sfreq_hz):
    """Write the BIDS events.tsv ourselves: onset, duration, trial_type, sample, value + word columns."""
    events_path = path.copy().update(suffix="events", extension=".tsv").fpath
    table = pd.DataFrame({
        "onset": onset_samples / sfreq_hz, "duration": durations, "trial_type": "word",
        "value": 1, "sample": onset_samples, "sentence_id": words.sentence_id.to_numpy(str),
        "word_index": words.word_index.to_numpy(int), "word": words.word.to_numpy(str),
    })  # fmt: skip
    with atomic_path(events_path) as tmp:
        table.to_csv(tmp, sep="\t", index=False, float_format="%.6f", lineterminator="\n")


def _config(*, null, seed, n_subjects, n_sentences, sfreq_hz, n_encoder_layers, n_decoder_layers,
            n_features, sentences):  # fmt: skip
    config = {
        "null": bool(null), "seed": int(seed), "n_subjects": int(n_subjects),
        "n_sentences": int(len(sentences)), "sfreq_hz": int(sfreq_hz),
        "n_encoder_layers": int(n_encoder_layers), "n_decoder_layers": int(n_decoder_layers),
        "n_features": int(n_features), "amplitudes_uv": AMPLITUDES_UV,
        "model": {"meaning_envelope_m": MEANING_ENVELOPE_M, "salience_envelope_m": SALIENCE_ENVELOPE_M,
                  "meaning_depth_sd": MEANING_DEPTH_SD, "prosody_offset_scale": PROSODY_OFFSET_SCALE,
                  "oracle_noise": ORACLE_NOISE, "negative_meaning_scale": NEGATIVE_MEANING_SCALE,
                  "sentence_gist_scale": SENTENCE_GIST_SCALE},
        "sentences": sentences.to_dict(orient="list"), "normal_prosody": NORMAL_PROSODY,
        "negative_prosody": NEGATIVE_PROSODY, "hearlike_version": __version__,
        "reference_models": ["oracle", PROSODY_MODEL],
    }  # fmt: skip
    digest = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()[:16]
    return config, digest


def write_demo(root=None, *, null=False, seed=0, n_subjects=8, n_sentences=None, sentences_path=None,
               sfreq_hz=SFREQ_HZ, n_encoder_layers=6, n_decoder_layers=6, n_features=256,
               overwrite=False):  # fmt: skip
    """Write the embedded demo dataset (or its null twin) with planted, documented effects.

    Parameters
    ----------
    root : path-like or None
        Output folder; default ``data/demo`` (``data/demo-null`` when ``null``), relative to the
        working directory. Layout: :func:`demo_paths`.
    null : bool
        Write the null twin: same stimuli, order and noise, no stimulus-locked EEG.
    seed : int
        Seed of every random choice (patterns, oracle, noise, sentence order).
    n_subjects : int
        Number of simulated subjects (``"01"``, ``"02"``, ...).
    n_sentences : int or None
        Use the first ``n_sentences`` of the sentence list (all 60 by default); tiny values make
        tiny test datasets.
    sentences_path : path-like or None
        Sentence list (``sentence_id``, ``text``, ``condition``); default the packaged
        ``hearlike/data/demo_sentences.tsv``.
    sfreq_hz : int
        EEG sampling rate.
    n_encoder_layers, n_decoder_layers, n_features : int
        Shape of the oracle's states.
    overwrite : bool
        Rewrite even if ``root`` already holds a demo made with the same configuration (otherwise
        that demo is kept and returned at once).

    Returns
    -------
    Path
        ``root``.

    Notes
    -----
    Everything is written under ``<root>.partial`` and renamed to ``root`` at the end, so
    ``root`` is either complete or absent. An interrupted run resumes: subjects already written
    to ``<root>.partial`` with the same configuration are kept.
    """
    root = Path(root if root is not None else ("data/demo-null" if null else "data/demo"))
    _check_sizes(n_subjects=n_subjects, sfreq_hz=sfreq_hz, n_encoder_layers=n_encoder_layers,
                 n_decoder_layers=n_decoder_layers, n_features=n_features)  # fmt: skip
    sentences = load_sentence_list(sentences_path, n_sentences=n_sentences)
    config, digest = _config(
        null=null, seed=seed, n_subjects=n_subjects, n_sentences=n_sentences, sfreq_hz=sfreq_hz,
        n_encoder_layers=n_encoder_layers, n_decoder_layers=n_decoder_layers, n_features=n_features,
        sentences=sentences,
    )  # fmt: skip
    if _is_up_to_date(root, digest, overwrite=overwrite):
        return root
    partial = _start_partial(root, digest)
    paths = demo_paths(partial)

    logger.info("demo %s: synthesising %d sentences", "null twin" if null else "dataset", len(sentences))
    table = _write_stimuli(sentences, paths)
    acoustic = word_acoustic_features(table, paths["stimuli"].parent)
    meaning = embed_texts([w.lower() for w in table.word]).astype(np.float64)
    patterns = _planted_patterns(table, acoustic, meaning, seed=seed)
    _write_reference_models(paths, table, patterns, meaning, config=config, digest=digest)
    _write_patterns(paths["patterns"], table, acoustic, patterns, null=null, digest=digest)

    gains = _subject_gains(seed, n_subjects)
    orders = _write_subjects(partial, table, sentences, patterns, gains, config=config)
    truth = _ground_truth(table, sentences, config, digest, gains, orders, patterns,
                          n_encoder_layers=n_encoder_layers, n_decoder_layers=n_decoder_layers)  # fmt: skip
    with atomic_path(paths["ground_truth"]) as tmp:
        tmp.write_text(json.dumps(truth, indent=2) + "\n")
    _finish(partial, root)
    logger.info("wrote demo to %s", root)
    return root


def _check_sizes(**sizes):
    """Each size an integer at least its minimum (``ValueError`` naming the argument otherwise)."""
    minimum = {"n_subjects": 1, "sfreq_hz": 100, "n_encoder_layers": 1, "n_decoder_layers": 1, "n_features": 8}
    for name, value in sizes.items():
        low = minimum[name]
        if not (isinstance(value, (int, np.integer)) and value >= low):
            raise ValueError(f"{name}={value!r} is invalid; pass an integer >= {low}")


def _is_up_to_date(root, digest, *, overwrite):
    """Whether ``root`` already holds this configuration's demo (kept unless ``overwrite``).

    Raises ``FileExistsError`` when ``root`` holds files the demo did not write, or (without
    ``overwrite``) a demo of another configuration.
    """
    final = demo_paths(root)
    _check_target(root)
    if final["ground_truth"].is_file() and not overwrite:
        if json.loads(final["ground_truth"].read_text()).get("config_hash") == digest:
            logger.info("demo in %s is up to date (config %s)", root, digest)
            return True
        raise FileExistsError(
            f"{root} holds a demo made with another configuration; pass overwrite=True to replace it"
        )
    return False


def _start_partial(root, digest):
    """The ``<root>.partial`` folder to write into, kept from an interrupted run of the same
    configuration (its ``.config_hash`` marker says which), else emptied."""
    partial = root.with_name(root.name + ".partial")
    marker = partial / ".config_hash"
    if partial.exists() and not marker.is_file() and any(partial.iterdir()):
        raise FileExistsError(f"{partial} exists and was not written by `hearlike demo` (no .config_hash in it); "
                              "move it away or choose another --out")
    if partial.exists() and (not marker.is_file() or marker.read_text() != digest):
        shutil.rmtree(partial)
    partial.mkdir(parents=True, exist_ok=True)
    marker.write_text(digest)
    return partial


def _write_reference_models(paths, table, patterns, meaning, *, config, digest):
    """Write the states of ``oracle`` and ``oracle-prosody`` (model-states contract)."""
    seed, null = config["seed"], config["null"]
    oracle = _oracle_states(table, patterns, meaning, seed=seed, n_encoder_layers=config["n_encoder_layers"],
                            n_decoder_layers=config["n_decoder_layers"], n_features=config["n_features"])  # fmt: skip
    oracle.attrs = {"model_id": "oracle", "pooling": "planted (word-level generative model)",
                    "dataset": "demo-null" if null else "demo", "source": "hearlike.demo"}  # fmt: skip
    write_netcdf(oracle, paths["oracle"], config_hash=digest)
    prosody_model = _prosody_model_states(table, patterns, seed=seed, n_layers=config["n_decoder_layers"],
                                          n_features=config["n_features"])  # fmt: skip
    prosody_model.attrs = {"model_id": PROSODY_MODEL, "pooling": "planted (word-level generative model)",
                           "dataset": "demo-null" if null else "demo", "source": "hearlike.demo"}  # fmt: skip
    write_netcdf(prosody_model, paths["states"] / f"{PROSODY_MODEL}.nc", config_hash=digest)


def _subject_gains(seed, n_subjects):
    """Per-subject (early, N400) gains, log-normal with sd 0.25."""
    gains_rng = _rng(seed, "subject", 10_000)
    return {s: (float(np.exp(0.25 * gains_rng.standard_normal())), float(np.exp(0.25 * gains_rng.standard_normal())))
            for s in _subject_ids(n_subjects)}  # fmt: skip


def _write_subjects(partial, table, sentences, patterns, gains, *, config):
    """Simulate and write every subject's EEG under ``partial`` (those already marked done in an
    interrupted run are kept); return each subject's sentence order."""
    seed, sfreq_hz = config["seed"], config["sfreq_hz"]
    bids_root = demo_paths(partial)["bids"]
    names = patterns["channels"]
    orders = {}
    scratch = partial / ".scratch"  # a killed run's scratch files are removed by the next one
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    for index, subject in enumerate(tqdm(_subject_ids(config["n_subjects"]), desc="EEG subjects", leave=False)):
        order, _, onset_samples, n_times = _timeline(table, sentences, seed=seed, subject_index=index,
                                                     sfreq_hz=sfreq_hz)  # fmt: skip
        orders[subject] = sentences.sentence_id[order].tolist()
        done = partial / ".done" / f"sub-{subject}"
        if done.is_file():
            continue
        data = _background(_rng(seed, "subject", index), patterns["positions"], names, n_times, sfreq_hz)
        if not config["null"]:
            data += _stimulus_locked(patterns, onset_samples, n_times, sfreq_hz,
                                     gain_early=gains[subject][0], gain_n400=gains[subject][1])  # fmt: skip
        _write_subject(bids_root, subject, data, names, table, onset_samples, sfreq_hz, scratch)
        done.parent.mkdir(exist_ok=True)
        done.write_text("")
    return orders


def _finish(partial, root):
    """Remove the bookkeeping of ``partial``, fix permissions, and rename it to ``root`` (replacing
    an earlier demo there only if all its files have a counterpart in the new one)."""
    shutil.rmtree(partial / ".done", ignore_errors=True)
    shutil.rmtree(partial / ".scratch", ignore_errors=True)
    (partial / ".config_hash").unlink()
    for path in partial.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    if root.exists():
        _check_target(root, written=partial)
        shutil.rmtree(root)
    partial.rename(root)


def _check_target(root: Path, *, written: Path | None = None) -> None:
    """Refuse to write into (and so to delete) a folder holding files the demo did not write.

    An empty or missing folder is fine, and so is an earlier demo (``ground_truth.json`` from
    :mod:`hearlike.demo`) whose files all have a counterpart in the new one (``written``).
    """
    if not root.exists():
        return
    if not root.is_dir():
        raise FileExistsError(f"{root} is a file; choose a folder for the demo")
    files = [p.relative_to(root) for p in root.rglob("*") if p.is_file()]
    if not files:
        return
    truth = root / "ground_truth.json"
    try:
        is_demo = truth.is_file() and "planted_in_eeg" in json.loads(truth.read_text())
    except ValueError:
        is_demo = False
    if not is_demo:
        raise FileExistsError(
            f"refusing to write the demo into {root}: it holds {len(files)} file(s) that are not a hearlike demo "
            f"(e.g. {files[0]}); choose an empty or new folder"
        )
    if written is not None:
        foreign = [f for f in files if not (written / f).exists()]
        if foreign:
            raise FileExistsError(
                f"refusing to replace the demo in {root}: {len(foreign)} file(s) there were not written by the demo "
                f"(e.g. {foreign[0]}); move them away first"
            )


def _write_patterns(path, table, acoustic, patterns, *, null, digest):
    names = patterns["channels"]
    ds = xr.Dataset(
        {
            "meaning_pattern": (("word", "channel"), patterns["meaning_pattern"].astype(np.float32)),
            "meaning_scale": ("word", patterns["meaning_scale"].astype(np.float32)),
            "salience": ("word", patterns["salience"].astype(np.float32)),
            "salience_pattern": ("channel", patterns["salience_pattern"].astype(np.float32)),
            "acoustic_features": (("word", "feature"), acoustic[list(ACOUSTIC_FEATURES)].to_numpy(np.float32)),
            "acoustic_patterns": (("feature", "channel"), patterns["a_features"].astype(np.float32)),
        },
        coords={**_word_coords(table), "channel": names, "feature": list(ACOUSTIC_FEATURES),
                "ch_x": ("channel", patterns["positions"][:, 0]), "ch_y": ("channel", patterns["positions"][:, 1]),
                "ch_z": ("channel", patterns["positions"][:, 2])},  # fmt: skip
        attrs={"units": "microvolts (patterns, before the subject gain and the time course)",
               "planted_in_eeg": int(not null), "source": "hearlike.demo"},  # fmt: skip
    )
    write_netcdf(ds, path, config_hash=digest)


def _ground_truth(table, sentences, config, digest, gains, orders, patterns, *, n_encoder_layers,
                  n_decoder_layers):  # fmt: skip
    weights = oracle_layer_weights(n_encoder_layers, n_decoder_layers)
    peak_layer = str(weights.meaning.idxmax())
    return {
        "dataset": "demo-null" if config["null"] else "demo",
        "null": config["null"],
        "planted_in_eeg": not config["null"],
        "config_hash": digest,
        "hearlike_version": __version__,
        "seed": config["seed"],
        "seed_streams": {k: [config["seed"], v] for k, v in _STREAM.items()},
        "task": TASK,
        "sfreq_hz": config["sfreq_hz"],
        "montage": MONTAGE,
        "subjects": list(gains),
        "subject_gains": {s: {"early": g[0], "n400": g[1]} for s, g in gains.items()},
        "sentence_order": orders,
        "windows_ms": {"early": list(EARLY_WINDOW_MS), "n400": list(N400_WINDOW_MS)},
        "n400_peak_ms": N400_PEAK_MS,
        "regions": {"centro_parietal": CENTRO_PARIETAL, "fronto_central": FRONTO_CENTRAL},
        "amplitudes_uv": AMPLITUDES_UV,
        "acoustic_features": list(ACOUSTIC_FEATURES),
        "negative_meaning_scale": NEGATIVE_MEANING_SCALE,
        "negative_prosody_sentences": sentences.sentence_id[sentences.condition == "negative"].tolist(),
        "prosody_offset_scale": PROSODY_OFFSET_SCALE,
        "prosody_settings": {"normal": NORMAL_PROSODY, "negative": NEGATIVE_PROSODY},
        "oracle": {
            "model_id": "oracle",
            "path": "states/oracle.nc",
            "n_encoder_layers": n_encoder_layers,
            "n_decoder_layers": n_decoder_layers,
            "n_features": config["n_features"],
            "planted_peak_relative_depth": PLANTED_PEAK_RELATIVE_DEPTH,
            "planted_peak_layer": peak_layer,
            "planted_peak_layer_relative_depth": float(weights.relative_depth[peak_layer]),
            "layer_weights": weights.reset_index().to_dict(orient="records"),
        },
        "prosody_model": {
            "model_id": PROSODY_MODEL,
            "path": f"states/{PROSODY_MODEL}.nc",
            "n_decoder_layers": n_decoder_layers,
            "planted": "prosodic salience offset on every feature, no meaning: high under covariance-based "
                       "metrics, at chance under geometric metrics (a planted rank split)",
        },
        "expected": (
            {"n400_meaning_effect": False, "measure_disagreement": False}
            if config["null"]
            else {"n400_meaning_effect": True, "measure_disagreement": True,
                  "negative_prosody": "geometric RSA falls, covariance-based dependence (CKA, HSIC, "
                                      "distance correlation) rises"}  # fmt: skip
        ),
    }

