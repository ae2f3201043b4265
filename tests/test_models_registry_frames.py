"""Registry entries, bad keys, remote-code opt-in, and frame times derived from the architecture."""

import dataclasses

import numpy as np
import pytest
import torch

from hearlike.models import FAMILIES, REGISTRY, get_spec, layout_for, load_adapter, registry_table
from hearlike.models.frames import conv_output_length, mel_length


def test_registry_has_the_twelve_models_and_two_baselines():
    table = registry_table()
    assert len(table) == 14
    assert set(table["family"]) <= set(FAMILIES)
    assert {"hf_id", "n_encoder_layers", "n_decoder_layers", "trust_remote_code", "licence"} <= set(table.columns)
    assert (table.loc["whisper-large-v3-encoder", "n_decoder_layers"], table.loc["qwen2-7b-text", "n_encoder_layers"]) == (0, 0)
    for spec in REGISTRY.values():
        assert ("{text}" if spec.family == "text" else "{audio}") in spec.prompt_template


def test_layer_counts_agree_with_config_defaults():
    """The transformers config defaults document the released sizes for these encoders."""
    import transformers as tf

    assert tf.Qwen2AudioConfig().audio_config.encoder_layers == get_spec("qwen2-audio-7b").n_encoder_layers
    assert tf.Qwen2_5OmniAudioEncoderConfig().encoder_layers == get_spec("qwen2.5-omni-7b").n_encoder_layers
    assert tf.Qwen3OmniMoeAudioEncoderConfig().encoder_layers == get_spec("qwen3-omni-30b-a3b-instruct").n_encoder_layers
    assert tf.VoxtralEncoderConfig().num_hidden_layers == get_spec("voxtral-mini-3b").n_encoder_layers
    assert tf.AudioFlamingo3EncoderConfig().num_hidden_layers == get_spec("audio-flamingo-3").n_encoder_layers
    assert tf.Qwen2_5OmniTextConfig().num_hidden_layers == get_spec("qwen2.5-omni-7b").n_decoder_layers


def test_unknown_key_lists_close_matches():
    with pytest.raises(KeyError, match="unknown model key 'qwen2-audio-7b-instrct'; did you mean 'qwen2-audio-7b-instruct'"):
        get_spec("qwen2-audio-7b-instrct")


def test_remote_code_needs_explicit_opt_in():
    spec = dataclasses.replace(get_spec("qwen2-audio-7b"), key="custom", trust_remote_code=True)
    with pytest.raises(ValueError, match="runs code from its repository 'Qwen/Qwen2-Audio-7B'; review it and pass "
                                         "trust_remote_code=True"):
        load_adapter(spec)


@pytest.mark.parametrize("family", ["qwen2_audio", "qwen2_5_omni", "qwen3_omni", "voxtral", "whisper"])
@pytest.mark.parametrize("seconds", [0.37, 1.0, 2.61, 7.93])
def test_layouts_monotonic_and_cover_the_audio(family, seconds):
    n = int(seconds * 16000)
    layout = layout_for(family, n)
    for times in (layout.encoder_times_s, layout.token_times_s):
        if times.size:
            assert np.all(np.diff(times) > 0)
            assert times[0] >= 0
            inside = times[times < seconds]
            assert seconds - inside[-1] < 0.1  # frames reach the end of the audio


def test_qwen3_chunk_restart():
    """Qwen3-Omni restarts its 8x conv stack every 100 mel frames: 13 frames per second, not 12.5."""
    layout = layout_for("qwen3_omni", 2 * 16000)
    assert layout.encoder_times_s.size == 26
    np.testing.assert_allclose(layout.encoder_times_s[12:14], [0.96, 1.0])


def test_whisper_conv_stem_centres_match_frame_times():
    """An impulse at mel frame m changes the conv-stem outputs centred on m * 10 ms."""
    import transformers as tf

    torch.manual_seed(0)
    encoder = tf.WhisperModel(tf.WhisperConfig(d_model=16, encoder_layers=1, decoder_layers=1,
                                               encoder_attention_heads=2, decoder_attention_heads=2,
                                               num_mel_bins=8, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                                               decoder_start_token_id=3, vocab_size=8)).encoder
    times = layout_for("whisper", 16000 * 30).encoder_times_s
    base = torch.zeros(1, 8, 3000)
    stem = lambda x: torch.nn.functional.gelu(encoder.conv2(torch.nn.functional.gelu(encoder.conv1(x))))  # noqa: E731
    for m in (40, 41, 1234):
        poked = base.clone()
        poked[0, :, m] = 1.0
        changed = (stem(poked) - stem(base)).abs().sum(1)[0] > 1e-6
        affected = times[changed.numpy()]
        assert affected.mean() == pytest.approx(m * 0.01, abs=1e-9)  # symmetric receptive field
        assert affected.max() - affected.min() <= 0.04 + 1e-9


def test_lengths_formulas():
    assert mel_length(16000) == 100 and mel_length(16001) == 101
    assert conv_output_length(3000) == 1500 and conv_output_length(101) == 51
