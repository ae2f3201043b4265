"""A model's states reduced to what the grid reads of them: per-sentence Gram pseudo-features.

Every metric compares words only within a sentence and reads a layer's states only through each
sentence's word geometry (:mod:`hearlike.geometry`). So the states of one layer and sentence of
``n`` words (``n × d``, ``d`` in the thousands) can be replaced by ``n × (n_max + 1)`` pseudo-features
with the same Gram matrix and feature means (:func:`hearlike.geometry.gram_features`): every score
is unchanged (to float64 rounding), and a model's states shrink ~100-fold (Broderick 2018, 40
layers × 11,000 words × 1,280 features: 2.3 GB of float32 -> ~60 MB). The grid store then fits
every model into one task, so a subject block's EEG side -- under the ``shift`` null, the
surrogates: most of the grid's fixed cost -- is prepared once for all models instead of once per
group of models.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import torch
import xarray as xr

from ..geometry import gram_features
from .cells import align_words, layer_groups


def word_probe(epochs: xr.DataArray) -> xr.DataArray:
    """A data-less stand-in for ``epochs`` carrying its word table (what word alignment reads)."""
    words = epochs["word"]
    coords = {"word": words.values, **{name: ("word", epochs[name].values) for name in ("sentence_id", "word_index")
                                       if name in epochs.coords}}
    return xr.DataArray(np.zeros((words.size, 0), dtype=np.float32), dims=("word", "probe"), coords=coords)


def sentences_of(states: xr.DataArray, probe: xr.DataArray, min_words: int, *, name: str = "model") -> list[np.ndarray]:
    """Positions in ``states``' word axis of every sentence the grid can use (words shared with the
    epochs' word table ``probe``, sentences of at least ``min_words``)."""
    used, _, _ = align_words({name: states}, probe, min_words)
    return [sentence["models"][name] for sentence in used]


def compact_bytes(states: xr.DataArray, sentences: list[np.ndarray]) -> int:
    """Bytes of :func:`compact_states` of ``states`` (float64)."""
    width = max(len(s) for s in sentences) + 1
    return int(states.sizes["layer"]) * sum(len(s) for s in sentences) * width * 8


def held_bytes(states: xr.DataArray, sentences: list[np.ndarray]) -> int:
    """Bytes of what :func:`compact_if_smaller` gives."""
    return min(int(states.nbytes), compact_bytes(states, sentences))


def compact_if_smaller(states: xr.DataArray, sentences: list[np.ndarray]) -> xr.DataArray:
    """:func:`compact_states` of ``states`` where that is smaller, else ``states`` as they are."""
    return compact_states(states, sentences) if compact_bytes(states, sentences) < states.nbytes else states


def compact_states(states: xr.DataArray, sentences: list[np.ndarray]) -> xr.DataArray:
    """``states (layer, word, feature)`` reduced to the pseudo-features of the words of ``sentences``.

    Parameters
    ----------
    states : DataArray, shape (n_layers, n_words, n_features)
        As the grid takes them (an ``n_features`` layer coord marks NaN-padded widths).
    sentences : list of ndarray of int
        Positions of each sentence's words in ``states``' word axis (:func:`sentences_of`).

    Returns
    -------
    DataArray, shape (n_layers, n_sentence_words, max sentence length + 1), float64
        Same layer coords (``n_features`` dropped: no padding is left) and attrs; the word axis
        holds the words of ``sentences`` in their order, with their coords. A sentence with a NaN
        state in a layer is NaN there (the grid then names the model and layer).
    """
    width = max(len(s) for s in sentences) + 1
    order = np.concatenate(sentences)
    values = np.asarray(states.values)
    out = np.empty((states.sizes["layer"], len(order), width), dtype=np.float64)
    starts = np.cumsum([0] + [len(s) for s in sentences])[:-1]
    by_length: dict[int, list[int]] = defaultdict(list)
    for k, sentence in enumerate(sentences):
        by_length[len(sentence)].append(k)
    for n, ks in by_length.items():
        positions = np.stack([sentences[k] for k in ks])  # (S, n) in states
        rows = (starts[ks][:, None] + np.arange(n)).reshape(-1)  # their rows in the output
        for start, stop, d in layer_groups(states):
            for layer in range(start, stop):
                x = torch.from_numpy(np.ascontiguousarray(values[layer, positions.reshape(-1), :d]))
                x = x.to(torch.float64).reshape(len(ks), n, d)
                pseudo = gram_features(x @ x.transpose(-1, -2), x.sum(dim=-1), d, width)
                out[layer, rows] = pseudo.reshape(-1, width).numpy()
    words = states.isel(word=order)
    coords = {name: coord for name, coord in words.coords.items()
              if name != "n_features" and set(coord.dims) <= {"layer", "word"}}
    return xr.DataArray(out, dims=("layer", "word", "feature"), coords=coords, attrs=dict(states.attrs),
                        name=states.name)
