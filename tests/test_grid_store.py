"""hearlike.grid.store: the chunked, streamed grid equals one compute_grid call; resumes; runs on Dask."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from hearlike.grid import compute_grid
from hearlike.grid import store as grid_store
from hearlike.grid.store import SENTENCE_BITS, bitround, compute_grid_store, model_groups, open_grid_store

from test_grid import REGIONS, WINDOWS, make_epochs, make_states

LENGTHS = [4, 5, 4, 6, 5, 4]
METRICS = ["spearman_rsa", "linear_cka", "procrustes"]
KW = dict(windows=WINDOWS, regions=REGIONS, metrics=METRICS, n_permutations=6, seed=3, null_kind="swap",
          factor_regions=["right"])


def _inputs():
    states = {"a": make_states(LENGTHS, 3, 8, seed=1), "b": make_states(LENGTHS, 2, 5, seed=2)}
    return states, make_epochs(LENGTHS, n_subjects=3, seed=4)


def _check_equal(store: xr.Dataset, whole: xr.Dataset):
    for name in ("score", "null_mean", "null_sd", "excess", "p_value"):  # stored as float32
        assert store[name].dtype == np.float32, name
        np.testing.assert_allclose(store[name].values, whole[name].values, rtol=1e-6, atol=1e-7, err_msg=name)
    assert "sentence_score" not in store and "sentence_null_mean" not in store  # only what the findings read
    assert store["sentence_excess"].dtype == np.float32
    np.testing.assert_allclose(store["sentence_excess"].values, whole["sentence_excess"].values, rtol=2**-16, atol=1e-7)
    assert store["sentence_excess"].attrs["_QuantizeBitRoundNumberOfSignificantBits"] == SENTENCE_BITS
    np.testing.assert_allclose(store["group_null"].values, whole["null"].mean("subject").values, rtol=1e-5, atol=1e-6)
    assert store["relative_depth"].dims == ("model", "layer") and store["family"].dims == ("metric",)
    assert store.attrs["n_scores_undefined"] == whole.attrs["n_scores_undefined"]


def test_store_equals_one_grid_and_resumes(tmp_path):
    states, epochs = _inputs()
    whole = compute_grid(states, epochs, keep_null=True, keep_sentences=True, **KW)
    calls = []

    def failing(name):  # the template reads every model once; the run stops at model b's chunks
        calls.append(name)
        if calls.count("b") == 2:
            raise RuntimeError("interrupted")
        return states[name]

    path = tmp_path / "grid.store"
    with pytest.raises(RuntimeError, match="interrupted"):  # a budget of 1 byte: one model per task
        compute_grid_store(path, failing, list(states), epochs, keep_sentences=True, states_budget_bytes=1, **KW)
    # model a's task was written: one chunk (model a × its block of 3 subjects) and its null samples
    assert sorted(f.name for f in (path / "chunks").glob("*.nc")) == ["m000-s0000.nc", "m000-s0000.null.nc"]
    with pytest.raises(FileNotFoundError, match="no finished grid store; run hearlike.grid.store.compute_grid_store"):
        open_grid_store(path)
    calls.clear()
    store = compute_grid_store(path, lambda name: calls.append(name) or states[name], list(states), epochs,
                               keep_sentences=True, **KW)  # the plan of the first call is kept
    assert calls == ["b"]  # resumed: only the unfinished model's chunks ran
    _check_equal(store, whole)
    # once done, the chunks are gathered into one file and removed, the per-subject nulls averaged
    assert sorted(f.name for f in path.glob("*.nc")) == ["cells.nc", "group_null.nc", "meta.nc"]
    assert not list((path / "chunks").glob("*.nc"))


def test_per_sentence_scores_too_large_to_gather_stay_lazy_in_their_chunks(tmp_path, monkeypatch):
    states, epochs = _inputs()
    whole = compute_grid(states, epochs, keep_null=True, keep_sentences=True, **KW)
    monkeypatch.setattr(grid_store, "SENTENCE_LOAD_LIMIT", 1)
    path = tmp_path / "big.store"
    store = compute_grid_store(path, states.__getitem__, list(states), epochs, keep_sentences=True,
                               subjects_per_task=2, **KW)
    assert store["sentence_excess"].chunks is not None and store["score"].chunks is None  # lazy / read
    # subjects_per_task=2: one group of both models × blocks of subjects (0, 1) and (2,), one chunk each
    assert sorted(f.name for f in (path / "chunks").glob("*.nc")) == ["m000-s0000.nc", "m000-s0002.nc"]
    _check_equal(store.load(), whole)
    xr.testing.assert_identical(open_grid_store(path).load(), store.load())


def test_bitround_keeps_the_bits_asked_and_rounds_to_nearest():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(10_000) * 10.0 ** rng.integers(-30, 30, 10_000),
                        [0.0, -0.0, np.nan, np.inf, -np.inf, 1.0, 1 + 2**-17, 1 + 3 * 2**-17]]).astype(np.float32)
    for bits in (1, 10, 16, 23):
        r = bitround(x, bits)
        finite = np.isfinite(x)
        assert r.dtype == np.float32 and r.shape == x.shape
        np.testing.assert_array_equal(r[~finite], x[~finite])
        exact = x[finite].astype(np.float64)
        rel = np.abs(r[finite] - exact) / np.maximum(np.abs(exact), 1e-300)
        assert rel.max() <= 2.0 ** -(bits + 1)  # half an ulp of the kept bits
        assert not (r[finite].view(np.uint32) & np.uint32((1 << (23 - bits)) - 1)).any()  # the low bits cleared
        assert np.array_equal(np.sign(r[finite]), np.sign(x[finite]))
    assert bitround(np.float32([1 + 2**-17, 1 + 3 * 2**-17]), 16).tolist() == [1 + 2**-16, 1 + 2**-15]  # ties up
    with pytest.raises(ValueError, match="bits must be 1..23"):
        bitround(x, 0)


def test_a_group_of_models_shares_one_eeg_preparation_per_block(tmp_path, monkeypatch):
    import hearlike.grid as grid

    states, epochs = _inputs()
    epochs = epochs.copy()
    epochs[1, 0] = np.nan  # a rejected epoch: counted once, whatever the number of models
    whole = compute_grid(states, epochs, keep_null=True, keep_sentences=True, **KW)
    assert whole.attrs["n_cell_sentences_rejected"] > 0
    n_buckets = len(set(LENGTHS))
    calls = {"compute_grid": [], "eeg_geometry": 0}
    real_grid, real_geometry = grid.compute_grid, grid.eeg_geometry

    def counting_grid(model_states, block, **kw):
        calls["compute_grid"].append((sorted(model_states), block.sizes["subject"]))
        return real_grid(model_states, block, **kw)

    def counting_geometry(*args, **kw):
        calls["eeg_geometry"] += 1
        return real_geometry(*args, **kw)

    monkeypatch.setattr(grid, "compute_grid", counting_grid)
    monkeypatch.setattr(grid, "eeg_geometry", counting_geometry)
    path = tmp_path / "g.store"
    store = compute_grid_store(path, states.__getitem__, list(states), epochs, keep_sentences=True,
                               subjects_per_task=2, **KW)
    # both models in one task per block of subjects (3 subjects: blocks of 2 and 1)
    assert calls["compute_grid"] == [(["a", "b"], 2), (["a", "b"], 1)]
    assert calls["eeg_geometry"] == 2 * n_buckets  # the EEG prepared once per block and length bucket
    _check_equal(store, whole)
    attrs = xr.open_dataset(path / "meta.nc", engine="h5netcdf").attrs
    assert json.loads(attrs["model_groups"]) == [[0, 1]] and attrs["subjects_per_task"] == 2
    assert json.loads(attrs["model_bytes"]) == {m: int(states[m].nbytes) for m in states}
    assert store.attrs["n_cell_sentences_rejected"] == whole.attrs["n_cell_sentences_rejected"]


def test_model_groups_fill_the_budget_in_order():
    assert model_groups([10, 10, 10], 25) == [[0, 1], [2]]
    assert model_groups([30, 5, 5], 25) == [[0], [1, 2]]  # a model over the budget runs alone
    assert model_groups([1, 1], 1) == [[0], [1]]


def test_store_without_sentences_has_no_sentence_variables(tmp_path):
    states, epochs = _inputs()
    store = compute_grid_store(tmp_path / "g.store", states.__getitem__, list(states), epochs, subjects_per_task=2,
                               **KW)
    assert not list((tmp_path / "g.store" / "chunks").glob("*.nc"))  # all gathered into cells.nc
    assert "sentence_excess" not in store and "sentence" not in store.dims
    assert set(store.data_vars) == {"score", "null_mean", "null_sd", "excess", "p_value", "group_null"}


@pytest.mark.slow
def test_dask_local_cluster_equals_serial(tmp_path):
    distributed = pytest.importorskip("distributed")
    states, epochs = _inputs()
    serial = compute_grid_store(tmp_path / "serial.store", states.__getitem__, list(states), epochs,
                                keep_sentences=True, **KW)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        on_dask = compute_grid_store(tmp_path / "dask.store", states.__getitem__, list(states), epochs,
                                     keep_sentences=True, client=client, subjects_per_task=1, **KW)
    for name in ("score", "null_mean", "p_value", "sentence_excess", "group_null"):  # tasks of 1 vs 4 subjects
        # float32 on disk (a difference of float64 values that differ in the last bit may round apart)
        np.testing.assert_allclose(on_dask[name].values, serial[name].values, rtol=1e-6, atol=1e-7, err_msg=name)


@pytest.mark.slow
def test_store_under_the_shift_null_equals_one_grid(tmp_path):
    from test_surrogates import EEG, WINDOWS as SHIFT_WINDOWS, _study
    from hearlike.eeg.surrogates import surrogate_epochs

    epochs, recordings, models = _study(planted_gain=1.0, n_subjects=2, n_sentences=12)
    surrogates = surrogate_epochs(recordings, epochs, n_surrogates=8, params=EEG, seed=0)
    kw = dict(windows=SHIFT_WINDOWS, regions={"all": list(epochs.channel.values)}, metrics=["spearman_rsa", "procrustes"],
              n_permutations=8, null_kind="shift", min_words=4, surrogates=surrogates)
    whole = compute_grid(models, epochs, keep_null=True, keep_sentences=True, **kw)
    store = compute_grid_store(tmp_path / "s.store", models.__getitem__, list(models), epochs, keep_sentences=True, **kw)
    _check_equal(store, whole)


def test_subject_blocks_fit_the_epochs_budget():
    from hearlike.grid.store import subject_block_size

    epochs = make_epochs(LENGTHS, n_subjects=3, seed=4)
    one = int(np.prod([epochs.sizes[d] for d in ("word", "channel", "time")])) * 4  # float32 bytes of a subject
    assert subject_block_size(epochs, 4, 10 * one) == 4
    assert subject_block_size(epochs, 4, 2 * one + 1) == 2
    assert subject_block_size(epochs, 4, 1) == 1  # one subject larger than the budget: alone


def test_lazily_opened_epochs_and_recordings_are_read_one_block_at_a_time(tmp_path, monkeypatch):
    """The pipeline's path at full size: every subject's epochs and recording stay in their cache
    files (dask) and each task reads its block alone; the numbers equal one in-memory grid."""
    from test_surrogates import EEG, WINDOWS as SHIFT_WINDOWS, _study
    from hearlike.cache import read_netcdf, write_netcdf
    from hearlike.eeg.surrogates import surrogate_epochs
    from hearlike.grid import store as grid_store

    epochs, recordings, models = _study(planted_gain=1.0, n_subjects=3, n_sentences=8)
    kw = dict(windows=SHIFT_WINDOWS, regions={"all": list(epochs.channel.values)}, metrics=["spearman_rsa", "procrustes"],
              n_permutations=4, null_kind="shift", min_words=4)
    whole = compute_grid(models, epochs, keep_null=True, keep_sentences=True,
                         surrogates=surrogate_epochs(recordings, epochs, n_surrogates=4, params=EEG, seed=0), **kw)
    subjects = [str(s) for s in epochs.subject.values]
    for s in subjects:
        write_netcdf(epochs.sel(subject=s, drop=True), tmp_path / f"e{s}.nc", config_hash="k")
        write_netcdf(recordings[s], tmp_path / f"r{s}.nc", config_hash="k")
    lazy_epochs = xr.concat([read_netcdf(tmp_path / f"e{s}.nc", config_hash="k", dataarray=True, lazy=True)
                             for s in subjects], dim="subject").assign_coords(subject=subjects)
    lazy_epochs.attrs = dict(epochs.attrs)
    lazy_recordings = {s: read_netcdf(tmp_path / f"r{s}.nc", config_hash="k", lazy=True) for s in subjects}
    surrogates = surrogate_epochs(lazy_recordings, lazy_epochs, n_surrogates=4, params=EEG, seed=0)
    assert lazy_epochs.chunks is not None and not isinstance(surrogates.signals[0], np.ndarray)  # nothing read yet
    seen = []
    real_run_chunk = grid_store.run_chunk

    def spy(store, group, block, states, block_epochs, block_surrogates, *args):
        seen.append((len(block), block_epochs.chunks, [type(x) for x in block_surrogates.signals]))
        return real_run_chunk(store, group, block, states, block_epochs, block_surrogates, *args)

    monkeypatch.setattr(grid_store, "run_chunk", spy)
    store = compute_grid_store(tmp_path / "s.store", models.__getitem__, list(models), lazy_epochs, keep_sentences=True,
                               surrogates=surrogates, subjects_per_task=2, **kw)
    assert [n for n, _, _ in seen] == [2, 1]  # blocks of 2 subjects, then the last one
    assert all(chunks is None and kinds == [np.ndarray] * n for n, chunks, kinds in seen)  # each task's block read
    assert lazy_epochs.chunks is not None  # the caller's epochs were never read whole
    _check_equal(store, whole)
