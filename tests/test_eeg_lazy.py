"""Lazily opened epochs and recordings (what the metric grid reads at full size) equal the read ones."""

from __future__ import annotations

import numpy as np

from hearlike import pipeline
from hearlike.config import load_params


def test_lazy_epochs_and_surrogates_equal_the_read_ones(tiny_params_file, tmp_path):
    params = load_params(tiny_params_file, {"cache_dir": str(tmp_path / "cache")})
    lazy = pipeline.epochs_of(params, lazy=True)  # first call: preprocessed, cached, then opened lazily
    assert lazy.chunks is not None and len(lazy.chunks[0]) == lazy.sizes["subject"]  # one chunk per subject
    read = pipeline.epochs_of(params)  # from the cache, read
    assert read.chunks is None and lazy.dtype == read.dtype == np.float32
    np.testing.assert_array_equal(lazy.values, read.values)
    assert lazy.attrs == read.attrs and list(lazy.coords) == list(read.coords)

    lazy_surrogates = pipeline.surrogates_of(params, lazy, 3, lazy=True)
    surrogates = pipeline.surrogates_of(params, read, 3)
    assert not isinstance(lazy_surrogates.signals[0], np.ndarray)  # still in the cache file
    assert lazy_surrogates.n_channels == surrogates.n_channels
    words = np.arange(20)
    np.testing.assert_array_equal(lazy_surrogates.cut(slice(None), words), surrogates.cut(slice(None), words))
    block = lazy_surrogates.for_subjects([1])
    assert isinstance(block.signals[0], np.ndarray) and block.signals[0].flags.c_contiguous
    np.testing.assert_array_equal(block.cut(slice(None), words), surrogates.cut(slice(None), words)[1:2])
