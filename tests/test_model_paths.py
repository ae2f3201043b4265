"""Local weights (``model_paths``) reach extract, align and the notebooks; a wrong folder is one clear error."""

from __future__ import annotations

import pytest
import yaml

from hearlike.cli import main
from hearlike.config import load_params

KEY = "whisper-large-v3-encoder"


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from hearlike.models import save_tiny

    root = tmp_path_factory.mktemp("weights")
    return {"whisper": save_tiny("whisper", root / "whisper"), "qwen": save_tiny("qwen2_audio", root / "qwen")}


def _params_file(tiny_params_file, tmp_path, folder):
    values = yaml.safe_load(tiny_params_file.read_text())
    values |= {"models": ["oracle", KEY], "cache_dir": str(tmp_path / "cache"), "n_permutations": 2,
               "metrics": ["spearman_rsa", "linear_cka"], "extra_metrics": [],
               "model_paths": {KEY: str(folder)}}
    path = tmp_path / "params.yml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return path


def test_align_finds_the_states_extracted_from_a_local_folder(tiny_params_file, tmp_path, weights, monkeypatch,
                                                               capsys):
    import hearlike.models.extract as extract
    from hearlike.pipeline import metric_grid, model_states

    path = _params_file(tiny_params_file, tmp_path, weights["whisper"])
    assert main(["extract", "--model", KEY, "--params", str(path)]) == 0
    capsys.readouterr()

    def no_loading(*args, **kwargs):
        raise AssertionError("align loaded the model again instead of reading the extracted states")

    monkeypatch.setattr(extract, "load_adapter", no_loading)
    params = load_params(path)
    states = model_states(params, KEY)
    assert states.attrs["weights_kind"] == "local folder" and states.attrs["source"] == str(weights["whisper"])
    assert (states.attrs["n_encoder_layers"], states.attrs["n_decoder_layers"]) == (2, 0)  # the folder's, not 32
    assert main(["align", "--params", str(path)]) == 0
    grid = metric_grid(params)
    assert KEY in list(grid["model"].values)
    assert int(grid["score"].sel(model=KEY).notnull().sum()) > 0


def test_a_moved_folder_keeps_the_cache_an_other_config_does_not(tiny_params_file, tmp_path, weights):
    import shutil

    from hearlike.models.extract import _folder_identity

    moved = shutil.copytree(weights["whisper"], tmp_path / "moved")
    assert _folder_identity(moved)["config_sha256"] == _folder_identity(weights["whisper"])["config_sha256"]
    assert _folder_identity(weights["qwen"])["config_sha256"] != _folder_identity(moved)["config_sha256"]


def test_a_wrong_or_missing_folder_is_one_clear_error(tiny_params_file, tmp_path, weights):
    from hearlike.pipeline import model_states

    params = load_params(_params_file(tiny_params_file, tmp_path, weights["qwen"]))
    with pytest.raises(ValueError, match=rf"model_paths\.{KEY} in .*params\.yml: model_path .*qwen holds a model of "
                                         r"type 'qwen2_audio', not of the expected type 'whisper'"):
        model_states(params, KEY)
    params = load_params(_params_file(tiny_params_file, tmp_path, tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=rf"model_paths\.{KEY} in .*: model_path .*nowhere does not exist"):
        model_states(params, KEY)
    assert main(["align", "--params", str(tmp_path / "params.yml")]) == 2


def test_model_paths_keys_and_relative_folders_are_checked(tiny_params_file, tmp_path):
    values = yaml.safe_load(tiny_params_file.read_text()) | {"model_paths": {"whisper-large-v3-encodr": "w"}}
    path = tmp_path / "params.yml"
    path.write_text(yaml.safe_dump(values))
    with pytest.raises(ValueError, match=r"model_paths.*'whisper-large-v3-encodr', not a registry model \(did you "
                                         r"mean 'whisper-large-v3-encoder'\?\)"):
        load_params(path)
    values["model_paths"] = {KEY: "weights/w"}
    path.write_text(yaml.safe_dump(values))
    assert load_params(path).model_paths[KEY] == tmp_path / "weights" / "w"  # relative to the file


def test_methods_table_describes_what_the_folder_holds(tiny_params_file, tmp_path, weights):
    from hearlike.methods import models_table

    table = models_table(load_params(_params_file(tiny_params_file, tmp_path, weights["whisper"])))
    row = table.loc[KEY]
    assert row["source"] == f"local folder {weights['whisper']}"
    assert (row["encoder layers"], row["decoder layers"]) == (2, 0)  # the tiny folder's, not the release's 32
