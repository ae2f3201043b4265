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


# ---------------------------------------------------------------------------------------------
# sentences cut from a long audio file
# ---------------------------------------------------------------------------------------------
RATE = 16000
PAD_S = 0.213
CONTEXT_S = 0.5
#: (first onset, word lengths) of two sentences in one long file: times on the 16 kHz sample grid and,
#: relative to each crop, at least 1 ms from the 10 ms grid of frame centres and edges (so that float
#: rounding cannot move a frame in or out of a word)
LONG_SENTENCES = {"a": (0.607, [0.254, 0.302, 0.208]), "b": (2.513, [0.303, 0.206, 0.353, 0.254])}
LONG_S = 4.4


def _long_file(root):
    """One 4.4 s file holding two sentences (and their table, onsets relative to the file)."""
    rng = np.random.default_rng(5)
    t = np.arange(int(LONG_S * RATE)) / RATE
    audio = (0.2 * np.sin(2 * np.pi * (180 + 120 * np.sin(2 * np.pi * 0.7 * t)) * t)
             + 0.02 * rng.standard_normal(t.size)).astype(np.float32)
    sf.write(root / "long.wav", audio, RATE, subtype="FLOAT")  # read back bit-exact
    rows = []
    for sid, (start, lengths) in LONG_SENTENCES.items():
        words = ["one", "two", "three", "four"][: len(lengths)]
        onsets = start + np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
        for i, (word, onset, length) in enumerate(zip(words, onsets, lengths)):
            rows.append(dict(sentence_id=sid, word_index=i, word=word, onset_s=onset, offset_s=onset + length,
                             audio_path="long.wav", sentence_text=" ".join(words)))
    return audio, pd.DataFrame(rows)


def _precut(root, audio, table, *, context_s=0.0):
    """Write each sentence's window (with ``context_s`` of preceding audio) as its own file."""
    cut = []
    for sid, rows in table.groupby("sentence_id", sort=False):
        start = max(rows.onset_s.min() - PAD_S, 0.0)
        stop = min(rows.offset_s.max() + PAD_S, LONG_S)
        first = max(start - context_s, 0.0)
        a, b = int(round(first * RATE)), int(round(stop * RATE))
        sf.write(root / f"cut_{sid}.wav", audio[a:b], RATE, subtype="FLOAT")
        cut.append(rows.assign(audio_path=f"cut_{sid}.wav", onset_s=rows.onset_s - a / RATE,
                               offset_s=rows.offset_s - a / RATE))
    return pd.concat(cut, ignore_index=True)


@pytest.fixture(scope="module", params=["whisper", "qwen2_audio"])
def crop_model(request, tmp_path_factory):
    family = request.param
    path = save_tiny(family, tmp_path_factory.mktemp(f"crop-{family}"), seed=0)
    return KEYS[family], path, load_adapter(KEYS[family], model_path=path)


def test_sentence_window_pads_and_clips():
    from hearlike.models.extract import sentence_window

    assert sentence_window([1.0, 1.5], [1.4, 2.0], duration_s=10.0, pad_s=0.2) == pytest.approx((0.8, 2.2))
    assert sentence_window([0.05, 0.5], [0.4, 0.95], duration_s=1.0, pad_s=0.2) == (0.0, 1.0)  # a no-op
    assert sentence_window([3.0], [4.0], duration_s=5.0, pad_s=None) == (0.0, 5.0)
    with pytest.raises(ValueError, match="segment_pad_s must be >= 0"):
        sentence_window([3.0], [4.0], duration_s=5.0, pad_s=-0.1)


def test_long_file_equals_precut_files(crop_model, tmp_path):
    """Two sentences of one long file give the states of the same sentences cut into files."""
    key, path, adapter = crop_model
    audio, long_table = _long_file(tmp_path)
    cut_table = _precut(tmp_path, audio, long_table)
    options = dict(stimuli_root=tmp_path, model_path=path, adapter=adapter, batch_size=2, segment_pad_s=PAD_S)
    from_long = extract_states(key, long_table, cache_dir=tmp_path / "long", **options)
    from_cut = extract_states(key, cut_table, cache_dir=tmp_path / "cut", **options)
    xr.testing.assert_allclose(from_long.drop_attrs(), from_cut.drop_attrs(), rtol=1e-4, atol=1e-5)
    assert from_long.attrs["segment_pad_s"] == PAD_S
    whole = extract_states(key, long_table, cache_dir=tmp_path / "whole", **(options | {"segment_pad_s": None}))
    assert whole.attrs["config_hash"] != from_long.attrs["config_hash"]
    name = "encoder" if "encoder" in whole else "decoder"
    assert not np.allclose(whole[name].values, from_long[name].values, atol=1e-3)  # cropping changed the input


def test_context_comes_from_the_same_file_and_word_times_shift(crop_model, tmp_path, monkeypatch):
    """With context_s > 0 a segment gets the audio before it in its file; word times move with it."""
    from hearlike.models import extract as extract_module

    key, path, adapter = crop_model
    audio, long_table = _long_file(tmp_path)
    context_s = CONTEXT_S
    fed, times = [], {}
    run = adapter.run_audio
    monkeypatch.setattr(adapter, "run_audio", lambda items: (fed.extend(items), run(items))[1])
    original = extract_module._sentence_dataset

    def recording(states, words, onsets, offsets, **kwargs):
        times[words["sentence_id"].iloc[0]] = np.asarray(onsets)
        return original(states, words, onsets, offsets, **kwargs)

    monkeypatch.setattr(extract_module, "_sentence_dataset", recording)
    with_context = extract_states(key, long_table, stimuli_root=tmp_path, cache_dir=tmp_path / "ctx",
                                  model_path=path, adapter=adapter, context_s=context_s, segment_pad_s=PAD_S,
                                  batch_size=2)
    assert len(fed) == 2
    for item, sid in zip(fed, ["a", "b"]):
        # window [first onset - pad, last offset + pad], preceded by up to context_s of the same file
        # (sentence a starts 0.607 s into the file: only 0.394 s of context exist)
        rows = long_table[long_table.sentence_id == sid]
        start = max(rows.onset_s.min() - PAD_S - context_s, 0.0)
        stop = rows.offset_s.max() + PAD_S
        np.testing.assert_array_equal(item, audio[int(round(start * RATE)):int(round(stop * RATE))])
        np.testing.assert_allclose(times[sid], rows.onset_s.to_numpy() - start, atol=1e-9)
    assert times["b"][0] == pytest.approx(PAD_S + context_s) and times["a"][0] == pytest.approx(0.607)
    monkeypatch.setattr(extract_module, "_sentence_dataset", original)
    cut_table = _precut(tmp_path, audio, long_table, context_s=context_s)  # context baked into the files
    from_cut = extract_states(key, cut_table, stimuli_root=tmp_path, cache_dir=tmp_path / "cut", model_path=path,
                              adapter=adapter, batch_size=2, segment_pad_s=None)  # files fed whole
    xr.testing.assert_allclose(with_context.drop_attrs(), from_cut.drop_attrs(), rtol=1e-4, atol=1e-5)


def test_per_sentence_files_are_not_cropped(crop_model, stimuli, tmp_path):
    """Words filling their own files: the default padding gives the uncropped states."""
    key, path, adapter = crop_model
    root, table = stimuli
    options = dict(stimuli_root=root, model_path=path, adapter=adapter, batch_size=3, context_s=0.3)
    padded = extract_states(key, table, cache_dir=tmp_path / "pad", **options)
    whole = extract_states(key, table, cache_dir=tmp_path / "whole", segment_pad_s=None, **options)
    xr.testing.assert_allclose(padded.drop_attrs(), whole.drop_attrs())
