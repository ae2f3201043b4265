"""The three TNC views (prosody, text, model) and the prosody and text seeds, built from project data."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import xarray as xr

from .labels import tnc_labels


def vader_valence(texts: Sequence[str]) -> np.ndarray:
    """VADER compound valence of each text.

    Parameters
    ----------
    texts : sequence of str, length n

    Returns
    -------
    ndarray, shape (n,), float64, in [-1, 1]
        Low = negative wording.
    """
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    return np.array([analyzer.polarity_scores(str(t))["compound"] for t in texts], dtype=float)


def sentence_embeddings(word_states: xr.DataArray) -> xr.DataArray:
    """Mean word state of each sentence.

    Parameters
    ----------
    word_states : DataArray, dims (word, feature)
        One layer's word states (e.g. ``stack_layers(ds).sel(layer="decoder.3")``), with the word
        coordinate ``sentence_id`` (see ``ARCHITECTURE.md``). The feature dimension may have any
        name.

    Returns
    -------
    DataArray, dims (sentence, feature), float32
        Sentences in order of first appearance; ``sentence`` holds the sentence ids.
    """
    if not isinstance(word_states, xr.DataArray):
        raise TypeError(
            f"word_states must be an xarray.DataArray (word, feature); got "
            f"{type(word_states).__name__} (select a variable and one layer first, e.g. "
            "stack_layers(ds).sel(layer='decoder.3'))"
        )
    if word_states.ndim != 2 or "word" not in word_states.dims:
        raise ValueError(
            f"word_states must have dims (word, feature); got {word_states.dims} "
            "(select one layer first, e.g. .sel(layer='decoder.3'))"
        )
    if "sentence_id" not in word_states.coords:
        raise ValueError("word_states lacks the word coordinate 'sentence_id' (see ARCHITECTURE.md)")
    feature_dim = next(d for d in word_states.dims if d != "word")
    values = torch.as_tensor(
        np.asarray(word_states.transpose("word", feature_dim).values, dtype=np.float32)
    )
    if not torch.isfinite(values).all():
        raise ValueError("word_states contain NaN or infinite values; check the extraction cache")
    codes, ids = pd.factorize(np.asarray(word_states["sentence_id"].values).astype(str))
    index = torch.as_tensor(codes, dtype=torch.long)
    sums = torch.zeros(len(ids), values.shape[1], dtype=torch.float64)
    sums.index_add_(0, index, values.double())
    counts = torch.bincount(index, minlength=len(ids)).double()
    means = (sums / counts[:, None]).float().numpy()
    return xr.DataArray(
        means,
        dims=("sentence", feature_dim),
        coords={"sentence": np.asarray(ids, dtype=object)},
        attrs=dict(word_states.attrs),
        name="sentence_embedding",
    )



def tnc_views(
    stimuli: pd.DataFrame,
    word_states: xr.DataArray,
    *,
    root: str | Path = ".",
    embed_fn: Callable[[list[str]], np.ndarray] | None = None,
    prosody: pd.DataFrame | None = None,
) -> tuple[dict[str, pd.DataFrame], dict[str, pd.Series]]:
    """Build the three views' embeddings and the prosody and text seeds from project data.

    Parameters
    ----------
    stimuli : DataFrame
        Stimulus table (one row per word, ``ARCHITECTURE.md``).
    word_states : DataArray, dims (word, feature)
        One layer of the Audio LLM's word states with word coordinate ``sentence_id``.
    root : path
        The stimulus table's folder (``audio_path`` is relative to it).
    embed_fn : callable, optional
        ``list[str] -> ndarray (n, d)`` sentence embedder; defaults to
        ``hearlike.text.embed_texts``.
    prosody : DataFrame, optional
        Precomputed :func:`hearlike.prosody.standardize_prosody` output (skips the audio).

    Returns
    -------
    embeddings : dict of DataFrame, index ``sentence_id``
        ``"prosody"`` (z-scored :data:`~hearlike.prosody.PROSODY_FEATURES`), ``"text"``,
        ``"model"`` (mean word state).
    seeds : dict of Series, index ``sentence_id``
        ``"prosody"`` (composite z) and ``"text"`` (VADER compound).
    """
    from hearlike import prosody as prosody_module

    if "sentence_text" not in stimuli.columns:
        raise ValueError("stimulus table lacks column 'sentence_text' (see ARCHITECTURE.md)")
    texts = stimuli.assign(sentence_id=stimuli["sentence_id"].astype(str)).groupby(
        "sentence_id", sort=False
    )["sentence_text"].first()
    if prosody is None:
        prosody = prosody_module.standardize_prosody(
            prosody_module.prosody_features(stimuli, root=root)
        )
    if embed_fn is None:
        try:
            from hearlike.text import embed_texts as embed_fn
        except ImportError as error:
            raise ImportError(
                "hearlike.text.embed_texts is unavailable; pass embed_fn= (list[str] -> (n, d) array)"
            ) from error
    text_embedding = np.asarray(embed_fn(list(texts.values)), dtype=float)
    if text_embedding.shape[0] != len(texts):
        raise ValueError(
            f"embed_fn returned {text_embedding.shape[0]} rows for {len(texts)} sentences"
        )
    model = sentence_embeddings(word_states).to_pandas()
    model.index = model.index.astype(str)
    absent = texts.index.difference(model.index)
    if len(absent):
        raise ValueError(
            f"word_states lack {len(absent)} sentence(s) of the stimulus table, e.g. "
            f"{list(absent[:3])}; extract model states for the same stimuli"
        )
    embeddings = {
        "prosody": prosody.loc[texts.index, list(prosody_module.PROSODY_FEATURES)],
        "text": pd.DataFrame(text_embedding, index=texts.index),
        "model": model.loc[texts.index],
    }
    seeds = {
        "prosody": prosody_module.negative_prosody_score(prosody).loc[texts.index],
        "text": pd.Series(vader_valence(list(texts.values)), index=texts.index, name="text_seed"),
    }
    return embeddings, seeds


def tnc_from_stimuli(
    stimuli: pd.DataFrame,
    word_states: xr.DataArray,
    *,
    root: str | Path = ".",
    embed_fn: Callable[[list[str]], np.ndarray] | None = None,
    prosody: pd.DataFrame | None = None,
    k: int = 5,
    theta: float = 0.6,
    thresholds: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """TNC labels for the sentences of a stimulus table (:func:`tnc_views` + :func:`tnc_labels`).

    Returns
    -------
    DataFrame, index ``sentence_id``
        As :func:`tnc_labels`, plus ``sentence_text`` and ``f0_imputed`` (the sentence was
        unvoiced and its F0 features imputed, see :mod:`hearlike.prosody`).
    """
    if prosody is None:
        from hearlike import prosody as prosody_module

        prosody = prosody_module.standardize_prosody(
            prosody_module.prosody_features(stimuli, root=root)
        )
    embeddings, seeds = tnc_views(stimuli, word_states, root=root, embed_fn=embed_fn, prosody=prosody)
    result = tnc_labels(embeddings, seeds, k=k, theta=theta, thresholds=thresholds)
    texts = stimuli.assign(sentence_id=stimuli["sentence_id"].astype(str)).groupby(
        "sentence_id", sort=False
    )["sentence_text"].first()
    result.insert(1, "sentence_text", texts.loc[result.index].values)
    if "f0_imputed" in prosody.columns:
        result["f0_imputed"] = prosody["f0_imputed"].reindex(result.index).to_numpy()
    return result
