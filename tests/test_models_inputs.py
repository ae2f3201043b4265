"""Bad input gives clear errors; context, hooks and resampling behave as documented (tiny Qwen2-Audio)."""

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from hearlike.models import extract_states, load_adapter, load_audio, save_tiny, word_char_spans

torch.set_num_threads(1)
KEY = "qwen2-audio-7b-instruct"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    path = save_tiny("qwen2_audio", tmp_path_factory.mktemp("q2a"))
    return path, load_adapter(KEY, model_path=path)


def _table(root, durations, rate=16000):
    rows = []
    for s, seconds in enumerate(durations):
        t = np.arange(int(seconds * rate)) / rate
        sf.write(root / f"s{s}.wav", (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate)
        rows += [dict(sentence_id=f"s{s}", word_index=i, word=w, onset_s=0.1 + 0.3 * i, offset_s=0.35 + 0.3 * i,
                      audio_path=f"s{s}.wav", sentence_text="hello big world") for i, w in enumerate(["hello", "big"])]
    return pd.DataFrame(rows)


def test_audio_too_long_is_refused(model, tmp_path):
    path, adapter = model
    table = _table(tmp_path, [31.0])
    with pytest.raises(ValueError, match=r"sentence 's0' \(.*s0.wav\) gives 31.0 s of audio with context; "
                                         r"qwen2-audio-7b-instruct accepts at most 30 s per input"):
        extract_states(KEY, table, stimuli_root=tmp_path, cache_dir=tmp_path / "c", adapter=adapter,
                       segment_pad_s=None)  # whole files (a cropped sentence would fit)


def test_sample_rate_mismatch(tmp_path):
    sf.write(tmp_path / "a.wav", np.zeros(2205, np.float32), 22050)
    with pytest.raises(ValueError, match=r"a.wav is sampled at 22050 Hz but the model expects 16000 Hz"):
        load_audio(tmp_path / "a.wav", sampling_rate_hz=16000, resample=False)
    sf.write(tmp_path / "b.wav", np.zeros(400, np.float32), 4000)
    with pytest.raises(ValueError, match=r"b.wav is sampled at 4000 Hz; speech needs at least 8000 Hz"):
        load_audio(tmp_path / "b.wav", sampling_rate_hz=16000)


def test_resampling_keeps_a_tone(tmp_path):
    t = np.arange(22050) / 22050
    sf.write(tmp_path / "tone.wav", np.sin(2 * np.pi * 440 * t).astype(np.float32), 22050)
    audio = load_audio(tmp_path / "tone.wav", sampling_rate_hz=16000)
    assert audio.size == 16000
    assert np.argmax(np.abs(np.fft.rfft(audio))) == 440  # 1 Hz bins over 1 s


def test_bad_tables(model, tmp_path):
    path, adapter = model
    table = _table(tmp_path, [1.0])
    options = dict(stimuli_root=tmp_path, cache_dir=tmp_path / "c", adapter=adapter)
    with pytest.raises(ValueError, match="stimulus table has no words"):
        extract_states(KEY, table.iloc[:0], **options)
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['onset_s'\]"):
        extract_states(KEY, table.drop(columns="onset_s"), **options)
    with pytest.raises(ValueError, match=r"words end at 3.00 s but .*s0.wav lasts 1.00 s"):
        extract_states(KEY, table.assign(offset_s=3.0), **options)
    with pytest.raises(KeyError, match="unknown model key 'qwen2-audi'; did you mean"):
        extract_states("qwen2-audi", table, **options)
    with pytest.raises(ValueError, match=r"word 'dog' not found in sentence_text 'hello big world'"):
        word_char_spans("hello big world", ["hello", "dog"], sentence_id="s0")


def test_context_changes_only_sentences_with_a_predecessor(model, tmp_path):
    path, adapter = model
    table = _table(tmp_path, [1.0, 1.0])
    plain = extract_states(KEY, table, stimuli_root=tmp_path, cache_dir=tmp_path / "a", adapter=adapter)
    context = extract_states(KEY, table, stimuli_root=tmp_path, cache_dir=tmp_path / "b", adapter=adapter,
                             context_s=0.5)
    first, second = plain["sentence_id"] == "s0", plain["sentence_id"] == "s1"
    np.testing.assert_allclose(context["encoder"][:, first], plain["encoder"][:, first], atol=1e-5)
    assert not np.allclose(context["decoder"][:, second], plain["decoder"][:, second], atol=1e-4)


def test_hooks_agree_with_encoder_hidden_states(model):
    """Hooked block outputs equal the audio tower's own output_hidden_states (peer reference)."""
    path, adapter = model
    audio = 0.1 * np.random.default_rng(0).standard_normal(24000).astype(np.float32)
    item = adapter.run_audio([audio])[0]
    from transformers.masking_utils import create_bidirectional_mask

    features = adapter.feature_extractor([audio], sampling_rate=16000, return_tensors="pt",
                                         return_attention_mask=True)
    tower = adapter.model.model.audio_tower
    valid, _ = tower._get_feat_extract_output_lengths(features["attention_mask"].sum(-1))
    mask_2d = (torch.arange(1500)[None] < valid[:, None]).long()
    mask = create_bidirectional_mask(config=tower.config, inputs_embeds=torch.zeros(1, 1500, 1), attention_mask=mask_2d)
    with torch.no_grad():
        reference = tower(features["input_features"], attention_mask=mask, output_hidden_states=True)
    n = item.encoder.shape[1]
    assert len(reference.hidden_states) == 1 + item.encoder.shape[0]  # embeddings + one per block
    torch.testing.assert_close(item.encoder[0], reference.hidden_states[1][0, :n])
    # the tower's last entry is its final output: the last block, 2x average-pooled, layer-normed
    pairs = n // 2
    pooled = item.encoder[-1][: 2 * pairs].reshape(pairs, 2, -1).mean(1)
    torch.testing.assert_close(tower.layer_norm(pooled), reference.last_hidden_state[0, :pairs], rtol=1e-4, atol=1e-4)
