"""End-to-end extraction on tiny random-weight models of every family (offline, real file formats)."""

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
import xarray as xr

from hearlike.models import extract_states, layer_matrices, load_adapter, save_tiny, stack_layers

torch.set_num_threads(1)

KEYS = {
    "qwen2_audio": "qwen2-audio-7b-instruct",
    "qwen2_5_omni": "qwen2.5-omni-3b",
    "qwen3_omni": "qwen3-omni-30b-a3b-instruct",
    "voxtral": "voxtral-mini-3b",
    "audioflamingo3": "audio-flamingo-3",
    "whisper": "whisper-large-v3-encoder",
    "text": "qwen2-7b-text",
    "granite_speech": "granite-speech-3.3-2b",
    "gemma3n": "gemma-3n-e2b-it",
    "phi4_multimodal": "phi-4-multimodal-instruct",
}


def _write_stimuli(root, *, durations=(1.2, 0.9, 1.6), rates=(16000, 22050, 16000)):
    rng = np.random.default_rng(1)
    rows = []
    for s, (seconds, rate) in enumerate(zip(durations, rates)):
        t = np.arange(int(seconds * rate)) / rate
        audio = 0.3 * np.sin(2 * np.pi * (200 + 50 * s) * t) * (np.sin(2 * np.pi * 3 * t) > 0)
        audio = audio + 0.01 * rng.standard_normal(t.size)
        sf.write(root / f"s{s}.wav", audio.astype(np.float32), rate)
        words = ["the", "cat", "sat", "down"][: 2 + s]
        edges = np.linspace(0.05, seconds - 0.05, len(words) + 1)
        for i, word in enumerate(words):
            rows.append(dict(sentence_id=f"s{s}", word_index=i, word=word, onset_s=edges[i], offset_s=edges[i + 1],
                             audio_path=f"s{s}.wav", sentence_text=" ".join(words)))
    table = pd.DataFrame(rows)
    table.to_csv(root / "stimuli.tsv", sep="\t", index=False)
    return table


@pytest.fixture(scope="module")
def stimuli(tmp_path_factory):
    root = tmp_path_factory.mktemp("stimuli")
    return root, _write_stimuli(root)


@pytest.fixture(scope="module", params=list(KEYS))
def tiny(request, tmp_path_factory):
    family = request.param
    path = save_tiny(family, tmp_path_factory.mktemp(family), seed=0)
    return KEYS[family], path, load_adapter(KEYS[family], model_path=path)


def test_extract_shapes_and_contract(tiny, stimuli, tmp_path):
    key, path, adapter = tiny
    root, table = stimuli
    ds = extract_states(key, table, stimuli_root=root, cache_dir=tmp_path, model_path=path, batch_size=2,
                        block_size=2)
    spec = adapter.spec
    assert ds.sizes["word"] == len(table)
    assert list(ds["word"].values) == [f"{s}:{i}" for s, i in zip(table.sentence_id, table.word_index)]
    assert list(ds["word_text"].values) == list(table.word)
    if spec.has_encoder:
        assert ds["encoder"].dims == ("encoder_layer", "word", "encoder_feature")
        assert ds.sizes["encoder_layer"] == len(adapter.encoder_blocks) == 2
    if spec.has_decoder:
        assert ds["decoder"].dims == ("decoder_layer", "word", "decoder_feature")
        assert ds.sizes["decoder_layer"] == 3
    assert ("encoder" in ds) == spec.has_encoder and ("decoder" in ds) == spec.has_decoder
    for name in ds.data_vars:
        assert ds[name].dtype == np.float32 and np.isfinite(ds[name].values).all()
    assert {"model_id", "config_hash", "hearlike_version", "pooling"} <= set(ds.attrs)
    assert (tmp_path / f"{key}__stimuli.nc").exists()
    stacked = stack_layers(ds)
    assert stacked.dims == ("layer", "word", "feature")
    assert stacked["relative_depth"].values[0] == 0 and stacked["relative_depth"].values[-1] == 1
    for label, matrix in layer_matrices(stacked):
        component, index = label.split(".")
        np.testing.assert_array_equal(matrix.values, ds[component].isel({f"{component}_layer": int(index)}).values)


def test_frame_times_and_batch_invariance(tiny):
    """Times increase and stay inside the audio; batching (padding) does not change any state."""
    key, _, adapter = tiny
    rng = np.random.default_rng(0)
    if adapter.family == "text":
        together = adapter.run_text(["the cat sat", "a dog"])
        alone = adapter.run_text(["a dog"])
    else:
        audios = [0.1 * rng.standard_normal(n).astype(np.float32) for n in (21000, 40000)]
        together = adapter.run_audio(audios)
        alone = adapter.run_audio(audios[1:])
        for audio, item in zip(audios, together):
            for times in (item.encoder_times, item.decoder_times):
                if times.size:
                    assert np.all(np.diff(times) > 0) and times[0] >= 0 and times[-1] < len(audio) / 16000
    for name in ("encoder", "decoder"):
        a, b = getattr(together[1], name), getattr(alone[0], name)
        if a is not None:
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_resume_after_crash_and_invalidation(tiny, stimuli, tmp_path):
    key, path, adapter = tiny
    root, table = stimuli
    run = adapter.run_text if adapter.family == "text" else adapter.run_audio
    name = "run_text" if adapter.family == "text" else "run_audio"
    calls = []

    def crashing(items):
        calls.append(len(items))
        if len(calls) == 2:
            raise KeyboardInterrupt("simulated crash")
        return run(items)

    options = dict(stimuli_root=root, cache_dir=tmp_path, model_path=path, batch_size=1, block_size=1,
                   adapter=adapter)
    setattr(adapter, name, crashing)
    try:
        with pytest.raises(KeyboardInterrupt):
            extract_states(key, table, **options)
        assert not (tmp_path / f"{key}__stimuli.nc").exists()
        calls.clear()
        setattr(adapter, name, lambda items: (calls.append(len(items)), run(items))[1])
        resumed = extract_states(key, table, **options)
        assert len(calls) == 2  # block 0 was checkpointed; blocks 1 and 2 ran
        fresh = extract_states(key, table, **(options | {"cache_dir": tmp_path / "fresh"}))
        xr.testing.assert_allclose(resumed.drop_attrs(), fresh.drop_attrs())
        calls.clear()
        extract_states(key, table, **options)
        assert calls == []  # a rerun is served by the cache
        changed = extract_states(key, table, **(options | {"pooling": "last"}))
        assert len(calls) == 3 and changed.attrs["config_hash"] != resumed.attrs["config_hash"]
    finally:
        delattr(adapter, name)
