"""Bad inputs to the model stage end in a clear error or a logged repair, never in silent wrong output."""

import dataclasses
import hashlib
import inspect
import logging

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from hearlike.models import (FAMILY_RECORDS, REGISTRY, ModelSpec, ensure_tiny, extract_states, get_family, get_spec,
                             load_adapter, load_audio, save_tiny)

torch.set_num_threads(1)
WHISPER = "whisper-large-v3-encoder"


@pytest.fixture(scope="module")
def whisper_folder(tmp_path_factory):
    return save_tiny("whisper", tmp_path_factory.mktemp("whisper") / "model")


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_sentence(root, audio, rate=16000):
    sf.write(root / "s0.wav", audio, rate, subtype="FLOAT")
    return pd.DataFrame([dict(sentence_id="s0", word_index=i, word=w, onset_s=0.1 + 0.3 * i, offset_s=0.35 + 0.3 * i,
                              audio_path="s0.wav", sentence_text="hello big") for i, w in enumerate(["hello", "big"])])


# ------------------------------------------------------------------------------------ half-written tiny model
def test_half_written_tiny_model_is_rebuilt_with_a_warning(whisper_folder, tmp_path, caplog):
    folder = tmp_path / "tiny-models" / "whisper"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text((whisper_folder / "config.json").read_text())  # a killed old-style write
    with pytest.raises(FileNotFoundError, match=r"model_path .*whisper has a config.json but no weights"):
        load_adapter(WHISPER, model_path=folder)
    with caplog.at_level(logging.WARNING, logger="hearlike.models.tiny"):
        assert ensure_tiny("whisper", folder) == folder
    assert f"tiny whisper model folder {folder} is incomplete (no weights, no feature extractor" in caplog.text
    assert _digest(folder / "model.safetensors") == _digest(whisper_folder / "model.safetensors")
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="hearlike.models.tiny"):
        ensure_tiny("whisper", folder)
    assert caplog.text == ""  # a complete folder is left alone


def test_save_tiny_writes_atomically(tmp_path, monkeypatch):
    import transformers

    def killed(self, *args, **kwargs):
        raise KeyboardInterrupt("killed while writing")

    monkeypatch.setattr(transformers.WhisperFeatureExtractor, "save_pretrained", killed)
    with pytest.raises(KeyboardInterrupt):
        save_tiny("whisper", tmp_path / "model")
    assert list(tmp_path.iterdir()) == []  # neither the folder nor its scratch copy


def test_orphan_scratch_folder_is_removed(whisper_folder, tmp_path, caplog):
    folder = tmp_path / "model"
    save_tiny("whisper", folder)
    orphan = tmp_path / ".model.tmp-999999999"  # no such process
    (orphan).mkdir()
    (orphan / "config.json").write_text("{}")
    with caplog.at_level(logging.WARNING, logger="hearlike.models.tiny"):
        ensure_tiny("whisper", folder)
    assert not orphan.exists() and f"removing {orphan}" in caplog.text


# ------------------------------------------------------------------------------------ NaN audio
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_audio_is_refused_with_the_file_named(whisper_folder, tmp_path, bad):
    audio = 0.1 * np.ones(8000, np.float32)
    audio[100] = bad
    table = _one_sentence(tmp_path, audio)
    with pytest.raises(ValueError, match=r"audio file .*s0.wav has 1 NaN or infinite sample\(s\) \(the first at sample "
                                         r"100, 0.006 s\); they would give NaN model states"):
        load_audio(tmp_path / "s0.wav", sampling_rate_hz=16000)
    with pytest.raises(ValueError, match=r"audio file .*s0.wav has 1 NaN or infinite sample"):
        extract_states(WHISPER, table, stimuli_root=tmp_path, cache_dir=tmp_path / "cache", model_path=whisper_folder)
    assert not list((tmp_path / "cache").glob("*.nc"))  # nothing cached


# ------------------------------------------------------------------------------------ remote code
def test_extract_states_takes_only_named_options():
    parameters = inspect.signature(extract_states).parameters
    assert not any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    assert [name for name, p in parameters.items() if p.kind is p.KEYWORD_ONLY] == [
        "stimuli_root", "cache_dir", "model_path", "dataset", "pooling", "context_s", "segment_pad_s", "dtype",
        "device", "batch_size", "block_size", "resample", "trust_remote_code", "adapter"]
    with pytest.raises(TypeError, match="unexpected keyword argument 'extraction'"):
        extract_states(WHISPER, pd.DataFrame(), stimuli_root=".", cache_dir=".", extraction={"trust_remote_code": True})


def test_remote_code_entry_needs_the_explicit_opt_in(tmp_path, monkeypatch):
    spec = dataclasses.replace(get_spec(WHISPER), key="custom-remote", trust_remote_code=True)
    monkeypatch.setitem(REGISTRY, spec.key, spec)
    message = (r"model 'custom-remote' runs code from its repository 'openai/whisper-large-v3'; review it and pass "
               r"trust_remote_code=True \(CLI: --trust-remote-code\) to allow it")
    with pytest.raises(ValueError, match=message):
        extract_states(spec.key, _one_sentence(tmp_path, np.zeros(8000, np.float32)), stimuli_root=tmp_path,
                       cache_dir=tmp_path / "cache")
    with pytest.raises(ValueError, match=message):
        load_adapter(spec.key)
    with pytest.raises(TypeError, match=r"trust_remote_code must be True or False, got 'yes'"):
        load_adapter(spec.key, trust_remote_code="yes")


def test_a_family_needing_remote_code_marks_its_models(monkeypatch):
    record = dataclasses.replace(get_family("whisper"), name="remote_whisper", remote_code=True)
    monkeypatch.setitem(FAMILY_RECORDS, record.name, record)
    spec = ModelSpec("my-model", "org/my-model", "remote_whisper", "Mine", 0.1, 2, 0)
    assert spec.trust_remote_code and spec.prompt_template == "{audio}"
    with pytest.raises(ValueError, match=r"model 'bad': unknown model family 'nosuch'; known: qwen2_audio, .* \(a new "
                                         r"family is one Family record in hearlike/models/families.py\)"):
        ModelSpec("bad", "org/bad", "nosuch", "Bad", 0.1, 2, 0)


# ------------------------------------------------------------------------------------ model_path
def test_missing_model_folder_names_folder_and_type(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"model_path .*nosuch does not exist or is not a folder; model "
                                                r"'qwen2-audio-7b-instruct' needs a checkpoint folder with model_type "
                                                r"'qwen2_audio'"):
        load_adapter("qwen2-audio-7b-instruct", model_path=tmp_path / "nosuch")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"model_path .*empty has no config.json; model 'qwen2.5-omni-3b' needs "
                                                r"a checkpoint folder with model_type 'qwen2_5_omni_thinker' or "
                                                r"'qwen2_5_omni'"):
        load_adapter("qwen2.5-omni-3b", model_path=tmp_path / "empty")


def test_model_folder_of_another_family_is_refused(whisper_folder, tmp_path):
    table = _one_sentence(tmp_path, 0.1 * np.ones(8000, np.float32))
    with pytest.raises(ValueError, match=r"model_path .*model holds a model of type 'whisper', not of the expected "
                                         r"type 'qwen2_audio' \('qwen2_audio' family\); model "
                                         r"'qwen2-audio-7b-instruct'"):
        extract_states("qwen2-audio-7b-instruct", table, stimuli_root=tmp_path, cache_dir=tmp_path / "cache",
                       model_path=whisper_folder)


# ------------------------------------------------------------------------------------ family records
def test_records_name_the_model_type_of_their_class():
    for name, record in FAMILY_RECORDS.items():
        if record.remote_code and not record.model_types:  # each remote-code checkpoint names its own type
            continue
        assert record.model_types[0] == record.transformers_class().config_class.model_type, name


def test_a_new_family_is_one_record(tmp_path, monkeypatch):
    """A copy of the Qwen2-Audio record under a new name extracts without touching any other module."""
    record = dataclasses.replace(get_family("qwen2_audio"), name="my_family")
    monkeypatch.setitem(FAMILY_RECORDS, record.name, record)
    spec = ModelSpec("my-model", "org/my-model", "my_family", "Mine", 0.1, 2, 3)
    path = save_tiny("my_family", tmp_path / "model")
    item = load_adapter(spec, model_path=path).run_audio([0.1 * np.ones(12000, np.float32)])[0]
    assert item.encoder.shape[:1] == (2,) and item.decoder.shape[:1] == (3,)
    assert np.isfinite(item.decoder.numpy()).all() and item.decoder_times[-1] < 12000 / 16000
