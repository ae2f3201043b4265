"""Bad parameters and failures at the command line: each gets a clear error naming file and key.

The EEG, model and grid cases live in ``test_bad_inputs_eeg.py``, ``test_bad_inputs_models.py`` and
``test_bad_inputs_grid.py``; the cache and demo-folder cases in ``test_bad_inputs_files.py``.
"""

from __future__ import annotations

import pytest
import torch
import yaml

from hearlike.cli import main
from hearlike.config import load_params


def _write(tmp_path, tiny_params_file, **changes):
    values = yaml.safe_load(tiny_params_file.read_text())
    for key, value in changes.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    return path


def test_a_misspelled_key_is_rejected_with_the_nearest_valid_key(tiny_params_file, tmp_path):
    path = _write(tmp_path, tiny_params_file, null_knd="swap")
    with pytest.raises(ValueError, match=r"bad\.yml: unknown key\(s\) 'null_knd' \(did you mean 'null_kind'\?\)"):
        load_params(path)


@pytest.mark.parametrize("value", [0, -3])
def test_n_permutations_below_one_is_rejected(tiny_params_file, tmp_path, value):
    path = _write(tmp_path, tiny_params_file, n_permutations=value)
    with pytest.raises(ValueError, match=rf"bad\.yml: `n_permutations` must be >= 1, got {value}"):
        load_params(path)


def test_n_permutations_must_be_an_integer(tiny_params_file, tmp_path):
    path = _write(tmp_path, tiny_params_file, n_permutations="many")
    with pytest.raises(ValueError, match=r"`n_permutations` must be an integer, got 'many'"):
        load_params(path)


def test_models_as_a_string_is_not_read_letter_by_letter(tiny_params_file, tmp_path):
    path = _write(tmp_path, tiny_params_file, models="oracle")
    with pytest.raises(ValueError, match=r"`models` must be a list, got 'oracle' \(write `models: \[oracle\]`\)"):
        load_params(path)


def test_an_unknown_model_key_names_the_nearest(tiny_params_file, tmp_path):
    path = _write(tmp_path, tiny_params_file, models=["oracle", "tiny-qwen2audio"])
    with pytest.raises(ValueError, match=r"unknown model key 'tiny-qwen2audio' \(did you mean 'tiny-qwen2-audio'\?\)"):
        load_params(path)


def test_unknown_metric_and_region_names_are_rejected(tiny_params_file, tmp_path):
    with pytest.raises(ValueError, match=r"`metrics` names unknown metric 'spearman' \(did you mean 'spearman_rsa'\?\)"):
        load_params(_write(tmp_path, tiny_params_file, metrics=["spearman"]))
    with pytest.raises(ValueError, match=r"`regions` names unknown region 'parietl' \(did you mean 'parietal'\?\)"):
        load_params(_write(tmp_path, tiny_params_file, regions=["all", "parietl"]))


def test_regions_may_be_channel_lists(tiny_params_file, tmp_path):
    params = load_params(_write(tmp_path, tiny_params_file, regions={"pz": ["Pz", "P1", "P2"]},
                                factor_metric_regions=["pz"]))
    assert dict(params.regions) == {"pz": ("Pz", "P1", "P2")}
    with pytest.raises(ValueError, match=r"`factor_metric_regions` names \['all'\], not among `regions` \['pz'\]"):
        load_params(_write(tmp_path, tiny_params_file, regions={"pz": ["Pz"]}, factor_metric_regions=["all"]))


def test_windows_must_be_ordered_and_inside_the_epoch(tiny_params_file, tmp_path):
    with pytest.raises(ValueError, match=r"`windows` entry 'late': start_ms \(500\) must be below stop_ms \(250\)"):
        load_params(_write(tmp_path, tiny_params_file, windows={"late": [500, 250]}))
    with pytest.raises(ValueError, match=r"entry 'far' \(900–1500 ms\) lies outside the epoch \(-200–1000 ms"):
        load_params(_write(tmp_path, tiny_params_file, windows={"far": [900, 1500]}))


def test_min_words_below_a_metric_requirement(tiny_params_file, tmp_path):
    with pytest.raises(ValueError, match=r"`min_words` is 3 but metric 'cka_debiased' needs sentences of >= 4 words"):
        load_params(_write(tmp_path, tiny_params_file, min_words=3))


def test_the_demo_name_must_match_the_folder(tiny_params_file, tmp_path):
    # the tiny demo is a planted demo: calling it the null twin is a mislabelling, not a run
    with pytest.raises(ValueError, match=r"`dataset` is 'demo-null' but data_root .* holds the 'demo' data"):
        load_params(_write(tmp_path, tiny_params_file, dataset="demo-null"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="the machine has a GPU")
def test_cuda_without_a_gpu_is_one_clear_error(tiny_params_file, tmp_path):
    with pytest.raises(ValueError, match=r"`device` is 'cuda' but this machine has no CUDA GPU"):
        load_params(_write(tmp_path, tiny_params_file, device="cuda"))


def test_remote_code_cannot_be_switched_on_from_a_parameter_file(tiny_params_file, tmp_path):
    path = _write(tmp_path, tiny_params_file, extraction={"trust_remote_code": True})
    with pytest.raises(ValueError, match=r"may not set `trust_remote_code`.*--trust-remote-code.*trust_remote_code=True"):
        load_params(path)
    with pytest.raises(ValueError, match=r"`extraction` has unknown option 'polling' \(did you mean 'pooling'\?\)"):
        load_params(_write(tmp_path, tiny_params_file, extraction={"polling": "mean"}))


def test_unknown_dataset_at_the_command_line(tiny_params_file, capsys):
    code = main(["extract", "--model", "tiny-whisper", "--params", str(tiny_params_file), "--dataset", "nosuch"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0  # one line, no traceback
    assert err.startswith("hearlike extract: error:") and "`dataset` is 'nosuch', not a known dataset" in err


def test_os_errors_are_one_line_and_debug_shows_the_traceback(tiny_params_file, tmp_path, capsys):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    args = ["extract", "--model", "tiny-whisper", "--params", str(tiny_params_file), "--cache-dir", str(blocker)]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("hearlike extract: error:") and "Error;" in err
    with pytest.raises(OSError):
        main(["--debug", *args])


def test_missing_weights_offline_is_one_line(tiny_params_file, capsys, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["extract", "--model", "whisper-large-v3-encoder", "--params", str(tiny_params_file)]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err  # (a progress bar may precede the one error line)
    assert err.splitlines()[-1].split("\r")[-1].startswith("hearlike extract: error:")


def test_fetch_without_network_says_where_to_get_the_files_in_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("HEARLIKE_OFFLINE", "1")
    assert main(["fetch", "broderick2018", "--dest", str(tmp_path / "broderick")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("hearlike fetch: error:")
    assert "https://doi.org/10.5061/dryad.070jc" in err and "Subject{subject}_Run{run}.mat" in err


def test_a_read_only_cache_is_one_line(tiny_params_file, tmp_path, capsys, monkeypatch):
    import hearlike.cache

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(kwargs.get("dir", "")))

    monkeypatch.setattr(hearlike.cache.tempfile, "mkstemp", refuse)
    args = ["extract", "--model", "tiny-text", "--params", str(tiny_params_file), "--cache-dir", str(tmp_path / "ro")]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1].split("\r")[-1]
    assert err.startswith("hearlike extract: error:") and "Permission denied" in err and "PermissionError" in err
