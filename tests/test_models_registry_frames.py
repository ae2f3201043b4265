"""Registry entries, bad keys, remote-code opt-in, and frame times derived from the architecture."""

import dataclasses

import numpy as np
import pytest
import torch

from hearlike.models import FAMILIES, REGISTRY, get_spec, layout_for, load_adapter, registry_table
from hearlike.models.frames import conv_output_length, mel_length


def test_registry_default_group_has_the_twelve_models_two_baselines_and_the_bundled_whisper():
    table = registry_table("default")
    assert len(table) == 16
    assert table.loc["whisper-tiny.en", "weights"] == "bundled"
    assert table.loc["whisper-tiny.en-random", "weights"] == "random:whisper-tiny.en"
    assert set(table["family"]) <= set(FAMILIES)
    assert {"hf_id", "n_encoder_layers", "n_decoder_layers", "trust_remote_code", "licence"} <= set(table.columns)
    assert (table.loc["whisper-large-v3-encoder", "n_decoder_layers"], table.loc["qwen2-7b-text", "n_encoder_layers"]) == (0, 0)
    for spec in REGISTRY.values():
        assert ("{text}" if spec.family in ("text", "whisper_seq2seq") else "{audio}") in spec.prompt_template


def test_layer_counts_agree_with_config_defaults():
    """The transformers config defaults document the released sizes for these encoders."""
    import transformers as tf

    assert tf.Qwen2AudioConfig().audio_config.encoder_layers == get_spec("qwen2-audio-7b").n_encoder_layers
    assert tf.Qwen2_5OmniAudioEncoderConfig().encoder_layers == get_spec("qwen2.5-omni-7b").n_encoder_layers
    assert tf.Qwen3OmniMoeAudioEncoderConfig().encoder_layers == get_spec("qwen3-omni-30b-a3b-instruct").n_encoder_layers
    assert tf.VoxtralEncoderConfig().num_hidden_layers == get_spec("voxtral-mini-3b").n_encoder_layers
    assert tf.AudioFlamingo3EncoderConfig().num_hidden_layers == get_spec("audio-flamingo-3").n_encoder_layers
    assert tf.Qwen2_5OmniTextConfig().num_hidden_layers == get_spec("qwen2.5-omni-7b").n_decoder_layers
    assert tf.Qwen2AudioConfig().text_config.num_hidden_layers == get_spec("qwen2-audio-7b").n_decoder_layers
    assert tf.VoxtralConfig().text_config.num_hidden_layers == get_spec("voxtral-mini-3b").n_decoder_layers
    assert tf.GraniteSpeechEncoderConfig().num_layers == get_spec("granite-speech-3.3-2b").n_encoder_layers
    assert tf.Gemma3nAudioConfig().conf_num_hidden_layers == get_spec("gemma-3n-e2b-it").n_encoder_layers
    assert tf.Gemma3nAudioConfig().conf_num_hidden_layers == get_spec("gemma-3n-e4b-it").n_encoder_layers
    assert tf.Gemma3nTextConfig().num_hidden_layers == get_spec("gemma-3n-e4b-it").n_decoder_layers  # E4B default
    assert tf.Phi4MultimodalAudioConfig().num_blocks == get_spec("phi-4-multimodal-instruct").n_encoder_layers
    assert tf.Phi4MultimodalConfig().num_hidden_layers == get_spec("phi-4-multimodal-instruct").n_decoder_layers


def test_unknown_key_lists_close_matches():
    with pytest.raises(KeyError, match="unknown model key 'qwen2-audio-7b-instrct'; did you mean 'qwen2-audio-7b-instruct'"):
        get_spec("qwen2-audio-7b-instrct")


def test_remote_code_needs_explicit_opt_in():
    spec = dataclasses.replace(get_spec("qwen2-audio-7b"), key="custom", trust_remote_code=True)
    with pytest.raises(ValueError, match="runs code from its repository 'Qwen/Qwen2-Audio-7B'; review it and pass "
                                         "trust_remote_code=True"):
        load_adapter(spec)


@pytest.mark.parametrize("family", ["qwen2_audio", "qwen2_5_omni", "qwen3_omni", "voxtral", "whisper",
                                    "granite_speech", "gemma3n", "phi4_multimodal"])
@pytest.mark.parametrize("seconds", [0.37, 1.0, 2.61, 7.93])
def test_layouts_monotonic_and_cover_the_audio(family, seconds):
    n = int(seconds * 16000)
    layout = layout_for(family, n)
    for times in (layout.encoder_times_s, layout.token_times_s):
        if times.size:
            assert np.all(np.diff(times) > 0)
            assert times[0] >= 0
            inside = times[times < seconds]
            assert seconds - inside[-1] < max(0.1, np.diff(times).max())  # frames reach the end of the audio


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


def test_token_counts_match_the_library_formulas():
    """Audio-token counts of the layouts equal those the processors insert (library code as reference)."""
    import transformers as tf

    class _Granite:  # the attributes GraniteSpeechFeatureExtractor._get_num_audio_features reads
        melspec_kwargs = {"hop_length": 160}
        projector_window_size, projector_downsample_rate = 15, 5

    phi4 = tf.Phi4MultimodalFeatureExtractor()
    for n in (4000, 16000, 16159, 16160, 41234, 160000):
        expected = tf.GraniteSpeechFeatureExtractor._get_num_audio_features(_Granite(), [n])[0]
        assert layout_for("granite_speech", n).token_times_s.size == expected
        frames = torch.tensor([(n - 400) // 160 + 1])
        assert layout_for("phi4_multimodal", n).token_times_s.size == int(phi4._compute_audio_embed_size(frames)[0])
    assert layout_for("gemma3n", 16000).token_times_s.size == tf.Gemma3nConfig().audio_soft_tokens_per_image
    # the 30 s padding gives exactly the processor's 188 tokens (one more sample of padding would not)
    features = tf.Gemma3nAudioFeatureExtractor()(np.zeros(16000, np.float32), padding="max_length",
                                                  max_length=480000, return_tensors="pt")
    assert features["input_features"].shape[1] == 1 + (480000 - 513) // 160


def _frames_read(stem, n_in, n_feat, k, torch_seed=0):
    """Input frames whose change changes output frame ``k`` of ``stem`` (sorted indices)."""
    torch.manual_seed(torch_seed)
    base = torch.randn(1, n_in, n_feat)
    with torch.no_grad():
        ref = stem(base)[0, k]
        hit = []
        for m in range(n_in):
            poked = base.clone()
            poked[0, m] += 5.0
            if not torch.allclose(stem(poked)[0, k], ref):
                hit.append(m)
    return hit


def test_conv_stem_receptive_fields_match_frame_times():
    """Each encoder frame's time is the centre of the window of feature frames its conv stem reads."""
    import transformers as tf

    # Phi-4: three 3x3 stride-2 convs with padding 1, symmetric window 8k-7 ... 8k+7 (clipped at 0)
    config = tf.Phi4MultimodalAudioConfig(hidden_size=16, nemo_conv_channels=16, num_attention_heads=2)
    embed = tf.models.phi4_multimodal.modeling_phi4_multimodal.Phi4MultimodalAudioNemoConvSubsampling(config).eval()
    times = layout_for("phi4_multimodal", 16000 * 5).encoder_times_s
    for k in (2, 3, 4):
        hit = _frames_read(lambda x: embed(x, None)[0], 48, 80, k)
        assert hit == list(range(8 * k - 7, 8 * k + 8))
        centre = (hit[0] + hit[-1]) / 2
        assert times[k] == pytest.approx(0.01 * centre + 199.5 / 16000, abs=1e-9)  # 400-sample frames
    # Gemma-3n: two 3x3 stride-2 convs padded only after the frame (window 4k ... 4k+6), but a
    # cumulative (causal) group norm also lets every earlier frame in, so only the window's end is
    # observable: the layout time is 3 frames (the half window) before it
    config = tf.Gemma3nAudioConfig(hidden_size=16, sscp_conv_channel_size=[16, 8], conf_num_attention_heads=2)
    stem = tf.models.gemma3n.modeling_gemma3n.Gemma3nAudioSubSampleConvProjection(config).eval()
    times = layout_for("gemma3n", 480000).encoder_times_s
    for k in (2, 3, 4):
        hit = _frames_read(stem, 40, 128, k)
        assert hit == list(range(0, 4 * k + 7))
        assert times[k] == pytest.approx(0.01 * (hit[-1] - 3) + 0.016, abs=1e-9)  # 512-sample frames


def test_granite_times_follow_frame_stacking_and_windows():
    layout = layout_for("granite_speech", 3 * 16000)
    np.testing.assert_allclose(layout.encoder_times_s[:3], [0.005, 0.025, 0.045])  # mel pairs (0, 10), (20, 30) ms
    # window 0 holds encoder frames 0-14; its 3 queries sit on the centres of frames 0-4, 5-9, 10-14
    np.testing.assert_allclose(layout.token_times_s[:4], layout.encoder_times_s[[2, 7, 12, 17]])
