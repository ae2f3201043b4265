"""The generic remote-code adapter on a tiny custom-code model the test writes itself.

The folder holds what a real remote-code checkpoint holds: ``config.json`` whose ``auto_map`` points at
``configuration_tiny.py`` / ``modeling_tiny.py``, weights, a tokenizer and a processor whose class lives
in ``processing_tiny.py`` (``processor_config.json`` ``auto_map``). The model is a small
``PreTrainedModel``: an audio projector (two 10 ms log-band frames -> one 20 ms audio token) and a few
causal residual layers, returning ``hidden_states``. Everything is offline and runs in seconds.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from hearlike.models import REGISTRY, extract_states, load_adapter, registry_table
from hearlike.models.registry import ModelSpec, group_keys
from hearlike.models.remote import STUDY_FRAME_S, remote_code_files
from hearlike.models.tiny import build_tiny_tokenizer

KEY = "ultravox-v0.5-llama-3.2-1b"  # any remote-code entry: the folder decides what runs
N_LAYERS, HIDDEN, N_BANDS, HOP = 3, 16, 8, 160
AUDIO_TOKEN = "<|AUDIO|>"  # the qwen2_audio tiny tokenizer has it as a special token

CONFIGURATION = '''
from transformers import PretrainedConfig


class TinyAudioConfig(PretrainedConfig):
    model_type = "tiny_audio_lm"

    def __init__(self, vocab_size=300, hidden_size=16, num_hidden_layers=3, n_bands=8, frames_per_token=2,
                 audio_token_id=None, sound_slot=None, **kwargs):
        self.vocab_size, self.hidden_size, self.num_hidden_layers = vocab_size, hidden_size, num_hidden_layers
        self.n_bands, self.frames_per_token, self.audio_token_id = n_bands, frames_per_token, audio_token_id
        self.sound_slot = sound_slot  # a key the adapter does not know (a model naming its token its own way)
        super().__init__(**kwargs)
'''

MODELING = '''
import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.modeling_outputs import BaseModelOutput

from .configuration_tiny import TinyAudioConfig


class Block(nn.Module):
    def __init__(self, size):
        super().__init__()
        self.mix, self.ff = nn.Linear(size, size), nn.Linear(size, size)

    def forward(self, h):
        context = h.cumsum(1) / torch.arange(1, h.shape[1] + 1, device=h.device)[None, :, None]  # causal mean
        return h + torch.tanh(self.ff(h) + self.mix(context))


class TinyAudioModel(PreTrainedModel):
    config_class = TinyAudioConfig
    base_model_prefix = "tiny"

    def __init__(self, config):
        super().__init__(config)
        self.embed = nn.Embedding(config.vocab_size, config.hidden_size)
        self.projector = nn.Linear(config.n_bands * config.frames_per_token, config.hidden_size)
        self.layers = nn.ModuleList([Block(config.hidden_size) for _ in range(config.num_hidden_layers)])
        self.post_init()

    def forward(self, input_ids, input_features=None, output_hidden_states=False, audio_token_start_idx=None,
                audio_token_len=None, **kwargs):
        h = self.embed(input_ids)
        if input_features is not None:  # (batch, frames, bands): stack frames_per_token frames per audio token
            b, n, m = input_features.shape
            k = self.config.frames_per_token
            audio = self.projector(input_features[:, :n // k * k].reshape(b, n // k, k * m))
            token = self.config.audio_token_id if self.config.audio_token_id is not None else self.config.sound_slot
            slots = input_ids == token
            if audio_token_start_idx is not None:  # the processor says where the audio goes (Ultravox-style)
                slots = torch.zeros_like(input_ids, dtype=torch.bool)
                start = int(audio_token_start_idx[0])
                slots[0, start:start + int(audio_token_len[0])] = True
            h = h.masked_scatter(slots[..., None], audio.to(h.dtype))
        states = [h]
        for layer in self.layers:
            h = layer(h)
            states.append(h)
        return BaseModelOutput(last_hidden_state=h, hidden_states=tuple(states) if output_hidden_states else None)
'''

PROCESSING = '''
import json
import os

import numpy as np
import torch
from transformers import PreTrainedTokenizerFast


class TinyProcessor:
    """Log band energies of 10 ms frames; the audio placeholder expands to one token per 2 frames."""

    audio_token = "<|AUDIO|>"

    def __init__(self, tokenizer, sampling_rate=16000, hop=160, n_bands=8, frames_per_token=2, span=False):
        self.tokenizer, self.sampling_rate, self.hop = tokenizer, sampling_rate, hop
        self.n_bands, self.frames_per_token, self.span = n_bands, frames_per_token, span

    @classmethod
    def register_for_auto_class(cls, auto_class="AutoProcessor"):
        pass

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        with open(os.path.join(path, "processor_config.json")) as f:
            options = {k: v for k, v in json.load(f).items() if k not in ("auto_map", "processor_class")}
        return cls(PreTrainedTokenizerFast.from_pretrained(path), **options)

    def __call__(self, text, audio, sampling_rate, return_tensors="pt"):
        assert sampling_rate == self.sampling_rate and len(audio) == 1
        wave = np.asarray(audio[0], dtype=np.float32)
        n = len(wave) // self.hop
        bands = wave[:n * self.hop].reshape(n, self.n_bands, self.hop // self.n_bands)
        features = np.log(1e-6 + (bands ** 2).mean(axis=2))
        n_tokens = n // self.frames_per_token
        out = {"input_features": torch.tensor(features[None])}
        if self.span:  # Ultravox-style: a start token, the audio as end-of-text tokens, and the span returned
            text = text.replace(self.audio_token, "<|endoftext|>" * n_tokens)
            out |= {"audio_token_start_idx": torch.tensor([1]), "audio_token_len": torch.tensor([n_tokens])}
            text = "<|audio_bos|>" + text
        else:
            text = text.replace(self.audio_token, self.audio_token * n_tokens)
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return out | {"input_ids": torch.tensor([ids])}
'''


def _write_tiny_remote_model(folder, *, config_token_id=True, frames_per_token=2, span=False, seed=0):
    """Write the custom-code checkpoint into ``folder`` (code files, config, weights, tokenizer, processor)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in (("configuration_tiny.py", CONFIGURATION), ("modeling_tiny.py", MODELING),
                       ("processing_tiny.py", PROCESSING)):
        (folder / name).write_text(textwrap.dedent(text))
    tokenizer = build_tiny_tokenizer("qwen2_audio")
    tokenizer.save_pretrained(folder)
    audio_id = tokenizer.convert_tokens_to_ids(AUDIO_TOKEN)
    # build the model from the code files exactly as written (as a package, for the relative import)
    package = f"tiny_remote_{abs(hash(str(folder)))}"
    spec = importlib.util.spec_from_file_location(package, folder / "__init__.py", submodule_search_locations=[str(folder)])
    (folder / "__init__.py").write_text("")
    sys.modules[package] = importlib.util.module_from_spec(spec)
    configuration = importlib.import_module(f"{package}.configuration_tiny")
    modeling = importlib.import_module(f"{package}.modeling_tiny")
    config = configuration.TinyAudioConfig(vocab_size=len(tokenizer), hidden_size=HIDDEN, num_hidden_layers=N_LAYERS,
                                           n_bands=N_BANDS, frames_per_token=frames_per_token, audio_token_id=audio_id)
    torch.manual_seed(seed)
    model = modeling.TinyAudioModel(config).eval()
    model.save_pretrained(folder)
    (folder / "__init__.py").unlink()
    raw = json.loads((folder / "config.json").read_text())
    raw["auto_map"] = {"AutoConfig": "configuration_tiny.TinyAudioConfig", "AutoModel": "modeling_tiny.TinyAudioModel"}
    raw.pop("architectures", None)
    if not config_token_id:  # the model finds its token under its own key; the adapter must ask the processor
        raw["sound_slot"], raw["audio_token_id"] = raw.pop("audio_token_id"), None
    if span:  # no token id anywhere: the processor's span is the only way to the audio
        raw["audio_token_id"] = None
    (folder / "config.json").write_text(json.dumps(raw, indent=2))
    (folder / "processor_config.json").write_text(json.dumps(
        {"auto_map": {"AutoProcessor": "processing_tiny.TinyProcessor"}, "sampling_rate": 16000, "hop": HOP,
         "n_bands": N_BANDS, "frames_per_token": frames_per_token, "span": span}))
    return folder, audio_id


@pytest.fixture(scope="module")
def remote_folder(tmp_path_factory):
    return _write_tiny_remote_model(tmp_path_factory.mktemp("remote") / "tiny-remote")


def _stimuli(root, seconds=1.0, seed=1):
    rng = np.random.default_rng(seed)
    audio = (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32)
    sf.write(root / "s1.wav", audio, 16000)
    words = [("the", 0.05, 0.21), ("cat", 0.25, 0.53), ("sat", 0.58, 0.93)]
    table = pd.DataFrame({"sentence_id": "s1", "word_index": range(3), "word": [w for w, _, _ in words],
                          "onset_s": [a for _, a, _ in words], "offset_s": [b for _, _, b in words],
                          "audio_path": "s1.wav", "sentence_text": "the cat sat"})
    return table, audio


# ------------------------------------------------------------------------------------ (a) refusal
def test_extraction_without_opt_in_names_the_folder_and_the_flag(remote_folder, tmp_path):
    folder, _ = remote_folder
    table, _ = _stimuli(tmp_path)
    message = (rf"model '{KEY}': loading {folder} runs the Python code in that folder \(configuration_tiny.py, "
               rf"modeling_tiny.py\); review it, then pass --trust-remote-code to `hearlike extract`")
    with pytest.raises(ValueError, match=message):
        extract_states(KEY, table, stimuli_root=tmp_path, cache_dir=tmp_path / "cache", model_path=folder)
    with pytest.raises(ValueError, match=message):
        load_adapter(KEY, model_path=folder)
    with pytest.raises(TypeError, match="trust_remote_code must be True or False, got 'true'"):
        load_adapter(KEY, model_path=folder, trust_remote_code="true")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.nc"))
    assert remote_code_files(folder) == ["configuration_tiny.py", "modeling_tiny.py"]


def test_remote_code_entries_never_download(tmp_path):
    with pytest.raises(ValueError, match=rf"model '{KEY}' runs code shipped with its weights and loads from a local "
                                         rf"folder only: download fixie-ai/ultravox-v0_5-llama-3_2-1b yourself"):
        load_adapter(KEY, trust_remote_code=True)
    with pytest.raises(FileNotFoundError, match=r"model_path .*nothing has no config.json"):
        load_adapter(KEY, model_path=tmp_path / "nothing", trust_remote_code=True)


# ------------------------------------------------------------------------------------ (b) opt-in
def test_opt_in_reads_decoder_states_at_the_config_audio_tokens(remote_folder, tmp_path):
    folder, audio_id = remote_folder
    table, audio = _stimuli(tmp_path)
    states = extract_states(KEY, table, stimuli_root=tmp_path, cache_dir=tmp_path / "cache", model_path=folder,
                            trust_remote_code=True, segment_pad_s=None)
    assert set(states.data_vars) == {"decoder"}
    decoder = states["decoder"]
    assert decoder.dims == ("decoder_layer", "word", "decoder_feature")
    assert decoder.shape == (N_LAYERS, 3, HIDDEN) and np.isfinite(decoder.values).all()
    assert states.attrs["n_decoder_layers"] == N_LAYERS

    # slow reference: run the written code by hand, take the hidden states at the config's audio token id,
    # time token i at (i + 0.5) * 20 ms and average the tokens whose centre falls inside each word
    adapter = load_adapter(KEY, model_path=folder, trust_remote_code=True)
    assert adapter.audio_token_id == audio_id == adapter.model.config.audio_token_id
    inputs = adapter.processor(text=AUDIO_TOKEN, audio=[audio], sampling_rate=16000)
    with torch.no_grad():
        hidden = adapter.model(**inputs, output_hidden_states=True).hidden_states
    ids = inputs["input_ids"][0].numpy()
    assert (ids == audio_id).all()  # no prompt: the input is the audio tokens alone
    assert len(ids) == len(audio) // HOP // 2  # 20 ms per token, the study's frame
    centres = (np.arange(len(ids)) + 0.5) * STUDY_FRAME_S
    for w, (onset, offset) in enumerate(table[["onset_s", "offset_s"]].to_numpy()):
        inside = (centres >= onset) & (centres < offset)
        for layer in range(N_LAYERS):
            expected = hidden[layer + 1][0, inside].mean(0).numpy()  # +1: embedding output dropped
            np.testing.assert_allclose(decoder.values[layer, w], expected, rtol=1e-4, atol=1e-5)
    # the layers differ (the states are not the embedding repeated)
    assert not np.allclose(decoder.values[0], decoder.values[-1])
    # the cached states come back without the opt-in (reading them runs no code); a new configuration needs it
    again = extract_states(KEY, table, stimuli_root=tmp_path, cache_dir=tmp_path / "cache", model_path=folder,
                           segment_pad_s=None)
    np.testing.assert_array_equal(again["decoder"].values, decoder.values)
    with pytest.raises(ValueError, match="pass --trust-remote-code"):
        extract_states(KEY, table, stimuli_root=tmp_path, cache_dir=tmp_path / "cache", model_path=folder,
                       segment_pad_s=None, pooling="last")


def test_audio_token_id_falls_back_to_the_processor(tmp_path):
    folder, audio_id = _write_tiny_remote_model(tmp_path / "no-config-id", config_token_id=False)
    adapter = load_adapter(KEY, model_path=folder, trust_remote_code=True)
    assert adapter.audio_token_id == audio_id
    item = adapter.run_audio([np.zeros(8000, np.float32) + 0.01])[0]
    assert item.encoder is None and item.decoder.shape[:2] == (N_LAYERS, 25)
    np.testing.assert_allclose(item.decoder_times, (np.arange(25) + 0.5) * 0.02)


def test_a_processor_span_gives_the_audio_positions(tmp_path):
    folder, _ = _write_tiny_remote_model(tmp_path / "span", span=True)
    adapter = load_adapter(KEY, model_path=folder, trust_remote_code=True)
    audio = np.random.default_rng(3).standard_normal(8000).astype(np.float32) * 0.1
    item = adapter.run_audio([audio])[0]
    inputs = adapter.processor(text=AUDIO_TOKEN, audio=[audio], sampling_rate=16000)
    with torch.no_grad():
        hidden = adapter.model(**inputs, output_hidden_states=True).hidden_states
    assert item.decoder.shape[:2] == (N_LAYERS, 25)
    # positions 1..25 (after the start token), not where the processor's audio_token id would point (nowhere)
    torch.testing.assert_close(item.decoder, torch.stack([h[0, 1:26] for h in hidden[1:]]))


def test_a_token_rate_other_than_20_ms_is_timed_as_the_study_does_with_a_warning(tmp_path, caplog):
    folder, _ = _write_tiny_remote_model(tmp_path / "slow-tokens", frames_per_token=8)  # 80 ms per token
    adapter = load_adapter(KEY, model_path=folder, trust_remote_code=True)
    with caplog.at_level("WARNING", logger="hearlike.models.remote"):
        item = adapter.run_audio([np.full(16000, 0.01, np.float32)])[0]
    assert "12 audio tokens for 1.00 s of audio (83 ms per token), but the study's timing assumes 20 ms" in caplog.text
    np.testing.assert_allclose(item.decoder_times, (np.arange(12) + 0.5) * 0.02)  # the study's times, not 80 ms


def test_a_config_token_id_the_processor_never_emits_is_an_error(tmp_path):
    folder, audio_id = _write_tiny_remote_model(tmp_path / "wrong-id")
    raw = json.loads((folder / "config.json").read_text())
    raw["audio_token_id"] = audio_id + 1  # the model would scatter audio into other tokens
    (folder / "config.json").write_text(json.dumps(raw))
    adapter = load_adapter(KEY, model_path=folder, trust_remote_code=True)
    with pytest.raises(RuntimeError, match=rf"no token {audio_id + 1} \(the audio placeholder id of the model's "
                                           r"config/processor\) in the processed input"):
        adapter.run_audio([np.full(8000, 0.01, np.float32)])


# ------------------------------------------------------------------------------------ (c) registry
def test_paper_group_lists_the_study_models_with_eight_unverified():
    paper = registry_table("paper")
    assert len(paper) == 12
    assert {"qwen2-audio-7b", "qwen2-audio-7b-instruct", "granite-speech-3.3-8b", "audio-flamingo-3"} <= set(paper.index)
    remote = paper[paper["family"] == "remote_code"]
    assert len(remote) == 8 and remote["trust_remote_code"].all()
    assert (remote["verified"] == "unverified offline").all()
    assert (paper.loc[paper["family"] != "remote_code", "verified"] != "unverified offline").all()
    assert remote["reads"].str.contains("no prompt").all() and remote["reads"].str.contains("20 ms").all()
    assert remote["hf_id"].str.contains("/").all() and remote.index.is_unique
    # the book's comparison is unchanged: the default group holds no remote-code entry
    default = registry_table("default")
    assert len(default) == 16 and not default["trust_remote_code"].any()
    assert set(group_keys("all")) == set(REGISTRY) == set(default.index) | set(paper.index)
    with pytest.raises(ValueError, match="unknown model group 'papers'; known: default, paper, all"):
        group_keys("papers")
    with pytest.raises(ValueError, match=r"model 'x': groups \('nosuch',\) must name one or more of"):
        ModelSpec("x", "org/x", "remote_code", "X", 1.0, 0, 2, groups=("nosuch",))


def test_cli_models_group_paper_marks_remote_code_unverified(capsys):
    from hearlike.cli import main

    assert main(["models", "--group", "paper"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines()[1:] if line.strip()]
    assert len(lines) == 12
    assert sum("unverified offline" in line for line in lines) == 8
    for key in registry_table("paper").index:
        assert key in out
    assert main(["models"]) == 0
    assert "baichuan-audio-base" not in capsys.readouterr().out


# ------------------------------------------------------------------------------------ the command line
@pytest.mark.slow  # its cost is the session's tiny demo (about 20 s when no other test has written it)
def test_cli_extract_refuses_then_runs_with_the_flag(remote_folder, tiny_params_file, tmp_path, capsys):
    import yaml

    from hearlike.cli import main

    folder, _ = remote_folder
    params = yaml.safe_load(tiny_params_file.read_text()) | {"model_paths": {KEY: str(folder)}}
    path = tmp_path / "params.yml"
    path.write_text(yaml.safe_dump(params))
    command = ["extract", "--model", KEY, "--params", str(path), "--cache-dir", str(tmp_path / "cache")]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert f"loading {folder} runs the Python code in that folder" in err and "--trust-remote-code" in err
    assert main([*command, "--trust-remote-code"]) == 0
    assert f"{KEY}: " in capsys.readouterr().out
    (states,) = (tmp_path / "cache").rglob(f"{KEY}__stimuli-*.nc")
    import xarray as xr

    with xr.open_dataset(states) as ds:
        assert ds["decoder"].sizes["decoder_layer"] == N_LAYERS and np.isfinite(ds["decoder"].values).all()


def test_a_folder_without_model_code_is_refused(tmp_path):
    from hearlike.models import get_spec, save_tiny
    from hearlike.models.adapters import check_model_folder

    folder = save_tiny("whisper", tmp_path / "native")
    with pytest.raises(ValueError, match=rf"model_path .*native: config.json's auto_map names no AutoModel or "
                                         rf"AutoModelForCausalLM class \(it has none\); model '{KEY}' needs a "
                                         rf"checkpoint folder with its own code"):
        check_model_folder(get_spec(KEY), folder)
