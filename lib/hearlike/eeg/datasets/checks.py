"""Check a dataset folder put in place by hand: what is there, what is missing or wrong.

:func:`check_data` backs ``hearlike check-data <dataset> DIR``: it lists the subjects and files
found and one line per problem (a missing file, a wrong sampling rate, a truncated recording),
without reading whole recordings where a header says enough.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import numpy as np
import scipy.io

from . import alice, bids, broderick

__all__ = ["brainvision_header", "check_data"]

ALICE_HZ = 500.0
BRODERICK_RUNS = 20
BRODERICK_DRYAD_HZ = 128.0
BRODERICK_BIDS_HZ = 512.0


def brainvision_header(vhdr: str | Path) -> dict:
    """``n_channels`` and ``sfreq_hz`` (from ``SamplingInterval``, µs) of a BrainVision header."""
    text = Path(vhdr).read_text(encoding="utf-8", errors="replace")
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read_string(text[text.index("["):])
    info = parser["Common Infos"]
    return {"n_channels": int(info["NumberOfChannels"]), "sfreq_hz": 1e6 / float(info["SamplingInterval"])}


def _vhdr_problems(vhdr: Path, sfreq_hz: float) -> list[str]:
    try:
        from .files import check_brainvision_size

        check_brainvision_size(vhdr)
        header = brainvision_header(vhdr)
    except (OSError, ValueError, KeyError) as err:
        return [str(err)]
    if abs(header["sfreq_hz"] - sfreq_hz) > 1e-6:
        return [f"{vhdr}: sampling rate {header['sfreq_hz']:g} Hz, expected {sfreq_hz:g} Hz"]
    return []


def _missing(paths: list[Path], what: str) -> list[str]:
    return [f"missing {what} {p}" for p in paths if not p.exists()]


def _alice(root: Path) -> tuple[list[str], list[str]]:
    found, problems = [], []
    problems += _missing([root / alice.LAYOUT["words"]], "word table")
    audio = [alice.LAYOUT["audio"].format(segment=k) for k in range(1, alice.N_SEGMENTS + 1)]
    problems += [f"missing audio {root / a} (or {root / 'audio' / a})" for a in audio
                 if not (root / a).exists() and not (root / "audio" / a).exists()]
    subjects = alice.list_subjects(root)
    found.append(f"{len(subjects)} subjects: {' '.join(subjects)}")
    if (root / alice.LAYOUT["selection"]).exists():
        try:
            paper = alice.paper_subjects(root)
            found.append(f"datasets.mat `use`: {len(paper)} subjects (the default selection)")
            problems += [f"subject {s} is in datasets.mat `use` but has no recording under {root}"
                         for s in paper if s not in subjects]
        except (OSError, ValueError) as err:
            problems.append(str(err))
    else:
        found.append(f"no {alice.LAYOUT['selection']}: every subject is used unless `subjects:` says otherwise")
    for subject in subjects:
        vhdr = root / alice.LAYOUT["eeg"].format(subject=subject)
        if vhdr.exists():
            problems += _vhdr_problems(vhdr, ALICE_HZ)
            continue
        mat = root / alice.LAYOUT["fieldtrip_eeg"].format(subject=subject)
        problems += _missing([root / alice.LAYOUT["proc"].format(subject=subject)],
                             f"trial definitions (proc.zip) of {subject}:")
        try:
            from .fieldtrip import read_mat_struct

            fsample = float(np.squeeze(read_mat_struct(mat, "raw").fsample))
            if fsample != ALICE_HZ:
                problems.append(f"{mat}: sampling rate {fsample:g} Hz, expected {ALICE_HZ:g} Hz")
        except (OSError, ValueError, AttributeError) as err:
            problems.append(f"{mat}: not a readable FieldTrip raw struct ({err})")
    return found, problems


def _broderick(root: Path) -> tuple[list[str], list[str]]:
    found, problems = [], []
    runs = range(1, BRODERICK_RUNS + 1)
    subjects = broderick.list_subjects(root)
    found.append(f"{len(subjects)} subjects: {' '.join(subjects)}")
    bids = broderick.is_bids(root)
    found.append("form: OpenNeuro ds004408 (BIDS)" if bids else "form: Dryad (.mat)")
    layout, prefix = broderick.LAYOUT, "bids_" if bids else ""
    problems += _missing([root / layout[f"{prefix}words"].format(run=r) for r in runs], "word timings")
    problems += _missing([root / layout[f"{prefix}audio"].format(run=r) for r in runs], "audio")
    if bids:
        for subject in subjects:
            for run in runs:
                vhdr = root / layout["bids_eeg"].format(subject=subject, run=run)
                problems += _missing([vhdr], "recording") or _vhdr_problems(vhdr, BRODERICK_BIDS_HZ)
        return found, problems
    for subject in subjects:
        for run in runs:
            path = root / layout["eeg"].format(subject=subject, run=run)
            if not path.exists():
                path = root / f"Subject{subject}" / path.name
            if not path.exists():
                problems.append(f"missing recording {root / layout['eeg'].format(subject=subject, run=run)}")
                continue
            try:
                fs = float(np.squeeze(scipy.io.loadmat(path, variable_names=["fs"])["fs"]))
            except Exception as err:  # noqa: BLE001 - any unreadable file is one reported problem
                problems.append(f"{path}: no readable `fs` ({err})")
                continue
            if fs != BRODERICK_DRYAD_HZ:
                problems.append(f"{path}: sampling rate {fs:g} Hz, expected {BRODERICK_DRYAD_HZ:g} Hz")
    return found, problems


def _bids(root: Path) -> tuple[list[str], list[str]]:
    broot = bids.bids_root(root)
    subjects = bids.list_subjects(root)
    found, problems = [f"{len(subjects)} subjects: {' '.join(subjects)}"], []
    for subject in subjects:
        try:
            paths = bids.recordings(broot, subject, bids.DEFAULT_TASK)
        except FileNotFoundError as err:
            problems.append(str(err))
            continue
        for path in paths:
            if path.extension == ".vhdr":
                problems += _vhdr_problems(path.fpath, brainvision_header(path.fpath)["sfreq_hz"])
            try:
                bids.run_words(broot, path)
            except (OSError, ValueError) as err:
                problems.append(str(err))
    return found, problems


_CHECKS = {"alice2019": _alice, "broderick2018": _broderick, "bids": _bids, "demo": _bids, "demo-null": _bids}


def check_data(dataset: str, root: str | Path) -> tuple[list[str], list[str]]:
    """What a dataset folder holds, and its problems (one line each).

    Parameters
    ----------
    dataset : str
        Registry name.
    root : str or Path
        The folder to check.

    Returns
    -------
    found : list of str
        Lines describing what is there (subjects, form, selection).
    problems : list of str
        One line per missing or wrong file; empty when the folder is complete.
    """
    root = Path(root)
    if dataset not in _CHECKS:
        raise ValueError(f"no check for dataset {dataset!r}; checks exist for {sorted(_CHECKS)}")
    if not root.is_dir():
        return [], [f"{root} is not a folder"]
    found, problems = _CHECKS[dataset](root)
    if found and found[0].startswith("0 subjects"):
        problems.insert(0, f"no subjects of {dataset} found under {root} (see hearlike/data/datasets.yml for the layout)")
    return found, problems
