"""The command line and the parameter file: registries print, extraction runs, bad input is explained."""

from __future__ import annotations

import pytest
import yaml

from hearlike.cli import main
from hearlike.config import Params, load_params
from hearlike.models import REGISTRY


def test_models_lists_every_registry_entry(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for key, spec in REGISTRY.items():
        assert (key in out and spec.hf_id in out) == ("default" in spec.groups), key  # --group paper: the study's
    assert len(REGISTRY) >= 14  # the 12 Audio LLMs + 2 baselines


def test_metrics_lists_the_eight_and_the_corrections(capsys):
    assert main(["metrics"]) == 0
    out = capsys.readouterr().out
    for name in ("spearman_rsa", "pearson_rsa", "procrustes", "mutual_knn", "linear_cka", "rbf_cka", "dcor",
                 "svcca", "cka_debiased", "dcor_debiased"):
        assert name in out


def test_extract_runs_a_registry_model_from_a_local_folder(tiny_params_file, tmp_path, capsys):
    from hearlike.models import save_tiny

    folder = save_tiny("whisper", tmp_path / "whisper-weights")
    code = main(["extract", "--model", "whisper-large-v3-encoder", "--params", str(tiny_params_file),
                 "--model-path", str(folder), "--cache-dir", str(tmp_path / "cache")])
    assert code == 0
    out = capsys.readouterr().out
    assert "whisper-large-v3-encoder" in out and "encoder_layer" in out
    assert list((tmp_path / "cache" / "states").glob("*/whisper-large-v3-encoder__stimuli-*.nc"))


def test_unknown_model_is_a_clear_error(tiny_params_file, capsys):
    assert main(["extract", "--model", "qwen2-audio-8b", "--params", str(tiny_params_file)]) == 2
    err = capsys.readouterr().err
    assert "qwen2-audio-8b" in err and "qwen2-audio-7b" in err  # names a close match


def test_parameter_file_errors_name_the_file_and_the_keys(tmp_path):
    bad = tmp_path / "p.yml"
    bad.write_text(yaml.safe_dump({"dataset": "demo", "data_root": "x"}))
    with pytest.raises(ValueError, match=r"p\.yml lacks required keys \['cache_dir', 'models'"):
        load_params(bad)
    with pytest.raises(FileNotFoundError, match="nope.yml does not exist"):
        load_params(tmp_path / "nope.yml")
    bad.write_text("dataset: [unclosed")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_params(bad)
    bad.write_text("dataset: demo\nnull: swap\n")  # YAML reads the key `null` as None
    with pytest.raises(ValueError, match=r"p\.yml has key\(s\) \[None\] that YAML does not read as names"):
        load_params(bad)


def test_the_null_kind_is_read_and_keys_the_grid_cache(tiny_params_file):
    from hearlike.pipeline import grid_config

    params = load_params(tiny_params_file)
    assert params.null_kind == "shift"  # the study default
    swap = load_params(tiny_params_file, {"null_kind": "swap"})
    assert grid_config(swap)["null_kind"] == "swap" != grid_config(params)["null_kind"]
    # the word permutations' draws key the grids whose null uses them (the others hash as before)
    from hearlike.grid.nulls import PERMUTATIONS_VERSION

    shuffle = load_params(tiny_params_file, {"null_kind": "shuffle"})
    assert grid_config(shuffle)["permutations_version"] == PERMUTATIONS_VERSION
    assert "permutations_version" not in grid_config(params) and "permutations_version" not in grid_config(swap)
    with pytest.raises(ValueError, match=r"`null_kind` is 'permute'; choose one of \['shuffle', 'cyclic', 'swap', 'shift'\]"):
        load_params(tiny_params_file, {"null_kind": "permute"})


def test_overrides_replace_entries_and_resolve_paths(tiny_params_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    params = load_params(tiny_params_file, {"n_permutations": 7, "cache_dir": "elsewhere"})
    assert isinstance(params, Params)
    assert params.n_permutations == 7
    assert params.cache_dir == tmp_path / "elsewhere"
