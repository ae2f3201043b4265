"""`subjects:` and `runs:` in the parameters: validated, and passed through the pipeline to the EEG loaders."""

from __future__ import annotations

import numpy as np
import pytest

from dataset_fixtures import EXACT_EEG, write_alice, write_broderick
from hearlike import eeg, pipeline
from hearlike.config import params_from_dict

pytestmark = pytest.mark.filterwarnings("ignore:Encountered unsupported non-voltage units")


def _params(root, **values):
    base = {"dataset": "bids", "data_root": str(root), "cache_dir": str(root / "cache"), "models": ["tiny-text"]}
    return params_from_dict(base | values, source="p.yml")


@pytest.mark.parametrize("value, expected", [(None, None), ("paper", "paper"), ("all", "all"),
                                             (["S01", 3], ("S01", "3"))])
def test_subjects_accepts_a_selection_name_or_labels(tmp_path, value, expected):
    assert _params(tmp_path, subjects=value).subjects == expected


@pytest.mark.parametrize("value, message", [
    ([], r"`subjects` must be a named selection \(`all`, `paper`\) or a non-empty list"),
    (["S01", "S01"], r"`subjects` lists a subject twice: \['S01', 'S01'\]"),
    ("S01 S02", r"`subjects` is 'S01 S02'; give a named selection"),
    ([["S01"]], r"`subjects` must list subject labels"),
])
def test_bad_subjects_are_named(tmp_path, value, message):
    with pytest.raises(ValueError, match=r"parameter file p\.yml: " + message):
        _params(tmp_path, subjects=value)


@pytest.mark.parametrize("value", [[1, "2"], 3, [], [True], [1, 1]])
def test_bad_runs_are_named(tmp_path, value):
    with pytest.raises(ValueError, match=r"parameter file p\.yml: `runs` (must be a non-empty list of run numbers|lists a run twice)"):
        _params(tmp_path, runs=value)


def test_subjects_and_runs_survive_a_round_trip_and_key_the_grid(tmp_path):
    params = _params(tmp_path, subjects=["S01", "S03"], runs=[2, 5])
    assert params.runs == (2, 5) and params.replace().subjects == ("S01", "S03")
    assert params.to_dict()["subjects"] == ["S01", "S03"] and params.to_dict()["runs"] == [2, 5]
    assert pipeline.grid_config(params)["runs"] == [2, 5] and pipeline.grid_config(params)["subjects"] == ["S01", "S03"]
    assert "runs" not in pipeline.grid_config(_params(tmp_path))  # unset: the grid hash of existing studies stays


def test_pipeline_reads_the_selected_subjects_and_runs(tmp_path):
    alice_root = tmp_path / "alice"
    write_alice(alice_root, form="fieldtrip", subjects=("S01", "S02", "S03"), use=("S01", "S03"), segment_s=2.5,
                audio=True)
    eeg.write_stimulus_table("alice2019", root=alice_root)
    common = {"stimuli_file": "stimuli.tsv", "eeg": EXACT_EEG, "windows": {"0-50": [0, 50]}}
    default = pipeline.epochs_of(_params(alice_root, dataset="alice2019", **common))
    assert list(default["subject"].values) == ["S01", "S03"]  # datasets.mat `use`
    chosen = pipeline.epochs_of(_params(alice_root, dataset="alice2019", subjects=["S02"], **common))
    assert list(chosen["subject"].values) == ["S02"]

    brod_root = tmp_path / "broderick"
    write_broderick(brod_root, form="openneuro", subjects=("001",), runs=(1, 2), run_s=7.0, audio=True)
    eeg.write_stimulus_table("broderick2018", root=brod_root)
    epochs = pipeline.epochs_of(_params(brod_root, dataset="broderick2018", runs=[1], **common))
    heard = np.isfinite(epochs.isel(subject=0).values).all(axis=(1, 2))
    in_run1 = np.char.startswith(epochs["sentence_id"].values.astype(str), "run01")
    assert in_run1.any() and (~in_run1).any()
    np.testing.assert_array_equal(heard, in_run1)


@pytest.mark.parametrize("dataset", ["alice2019", "broderick2018"])
def test_example_parameter_files_are_complete_and_shown_in_the_book(dataset):
    from pathlib import Path

    from hearlike.config import load_params

    root = Path(__file__).resolve().parents[1]
    path = root / "data" / "params" / f"{dataset}.yml"
    params = load_params(path, {"device": "cpu"})  # written for a GPU machine
    assert params.dataset == dataset and params.subjects == "paper" and len(params.models) >= 4
    assert f"```{{literalinclude}} ../data/params/{dataset}.yml" in (root / "book" / "real_data.md").read_text()
