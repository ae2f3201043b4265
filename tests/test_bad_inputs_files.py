"""Files on disk: the demo never deletes what it did not write, caches follow the data, killed writers
leave nothing that blocks or litters the next run."""

from __future__ import annotations

import logging
import os
import shutil
import socket

import numpy as np
import pytest
import xarray as xr

from hearlike.cache import clean_orphans, write_netcdf
from hearlike.cli import main
from hearlike.config import load_params
from hearlike.demo import _check_target


def test_demo_refuses_a_folder_that_is_not_a_demo(tmp_path, capsys):
    target = tmp_path / "thesis"
    target.mkdir()
    (target / "chapter1.tex").write_text("months of work")
    assert main(["demo", "--out", str(target)]) == 2
    err = capsys.readouterr().err
    assert "refusing to write the demo into" in err and "1 file(s) that are not a hearlike demo" in err
    assert (target / "chapter1.tex").read_text() == "months of work"
    assert not (tmp_path / "thesis.partial").exists()


def test_demo_refuses_a_partial_folder_it_did_not_write(tmp_path):
    from hearlike.demo import write_demo

    (tmp_path / "out.partial").mkdir()
    (tmp_path / "out.partial" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match=r"out\.partial exists and was not written by `hearlike demo`"):
        write_demo(tmp_path / "out", n_subjects=1, n_sentences=4)
    assert (tmp_path / "out.partial" / "notes.txt").exists()


def test_replacing_a_demo_keeps_files_the_demo_did_not_write(tiny_demo, tmp_path):
    old = shutil.copytree(tiny_demo, tmp_path / "old")
    (old / "my_analysis.ipynb").write_text("{}")
    with pytest.raises(FileExistsError, match=r"1 file\(s\) there were not written by the demo \(e\.g\. my_analysis"):
        _check_target(old, written=tiny_demo)
    _check_target(tiny_demo, written=tiny_demo)  # an earlier demo with the same files may be replaced


def test_editing_eeg_in_place_changes_the_cache_key(tiny_params_file, tiny_demo, tmp_path):
    from hearlike.pipeline import _cache, data_fingerprint

    copy = shutil.copytree(tiny_demo, tmp_path / "demo")
    params = load_params(tiny_params_file, {"data_root": str(copy)})
    before = data_fingerprint(params)
    eeg = next(copy.rglob("*.eeg"))
    data = bytearray(eeg.read_bytes())
    data[100:104] = b"\x00\x00\x80\x7f"  # same size, one sample changed
    eeg.write_bytes(bytes(data))
    os.utime(eeg, ns=(eeg.stat().st_atime_ns, eeg.stat().st_mtime_ns + 1_000_000))
    assert data_fingerprint(params) != before
    edited = data_fingerprint(params)
    assert edited != before
    header = next(copy.rglob("*.vhdr"))
    stat = header.stat()
    text = header.read_text()
    header.write_text(text.replace("=", "~", 1))  # same size, same mtime below: only the bytes differ
    os.utime(header, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert header.stat().st_size == stat.st_size
    assert data_fingerprint(params) != edited
    assert _cache(params, "epochs").name == data_fingerprint(params)


def test_a_truncated_grid_file_is_recomputed(tiny_params_file, tmp_path, caplog):
    from hearlike.pipeline import metric_grid

    params = load_params(tiny_params_file, {
        "cache_dir": str(tmp_path / "cache"), "models": ["oracle"], "metrics": ["spearman_rsa"], "extra_metrics": [],
        "regions": ["all"], "factor_metric_regions": ["all"], "windows": {"n400": [250, 500]},
        "n_permutations": 3, "null_kind": "swap"})
    grid = metric_grid(params, keep_sentences=False).load()
    path = next((tmp_path / "cache").glob("grid-*.grid/cells.nc"))  # every chunk, gathered once done
    path.write_bytes(path.read_bytes()[:200])  # a killed copy, a full disk
    with caplog.at_level(logging.WARNING):
        again = metric_grid(params, keep_sentences=False)
    assert "unreadable" in caplog.text and path.name in caplog.text
    xr.testing.assert_allclose(again["score"], grid["score"])
    assert again.attrs["config_hash"] == grid.attrs["config_hash"]
    assert xr.open_dataset(path, engine="h5netcdf")["score"].sizes["subject"] == grid.sizes["subject"]  # rewritten


def test_temp_files_of_killed_writers_are_removed_at_the_next_write(tmp_path, caplog):
    host = socket.gethostname().replace(".", "-")
    dead = tmp_path / f".grid-abc.{host}-999999999.x1y2.tmp.nc"
    dead.write_bytes(b"half")
    alive = tmp_path / f".grid-abc.{host}-{os.getppid()}.q9w8.tmp.nc"
    alive.write_bytes(b"being written")
    other_host = tmp_path / ".grid-abc.elsewhere-1.k3j4.tmp.nc"
    other_host.write_bytes(b"a cluster node's")
    with caplog.at_level(logging.WARNING):
        write_netcdf(xr.Dataset({"a": ("x", np.arange(3))}), tmp_path / "grid-abc.nc")
    assert not dead.exists() and alive.exists() and other_host.exists()
    assert "removed 1 temp file(s) left by killed runs" in caplog.text
    assert clean_orphans(tmp_path) == []
