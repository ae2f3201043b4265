"""Dataset catalogue and fetch(): no downloads in tests, clear offline instructions."""

from __future__ import annotations

import pytest

from hearlike import eeg
from hearlike.eeg import catalog


def test_catalogue_documents_each_dataset():
    assert {"broderick2018", "alice2019", "bids", "demo", "demo-null"} <= set(eeg.dataset_names())
    broderick = eeg.dataset_spec("broderick2018")
    assert broderick["doi"] == "10.5061/dryad.070jc" and broderick["fields"]["eeg"] == "eegData"
    assert broderick["layout"]["words"] == "Stimuli/Text/Run{run}.mat"
    alice = eeg.dataset_spec("alice2019")
    assert alice["doi"] == "10.7302/Z29C6VNH" and "Brennan" in alice["citation"]
    for name in eeg.dataset_names():
        assert eeg.dataset_spec(name)["reader"] in ("broderick", "alice", "bids")
    with pytest.raises(ValueError, match=r"unknown EEG dataset 'nope'; known datasets: \["):
        eeg.dataset_spec("nope")


def test_data_root_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("HEARLIKE_DATA", str(tmp_path))
    assert eeg.data_root("alice2019") == tmp_path / "alice2019"
    assert eeg.data_root("alice2019", tmp_path / "x") == tmp_path / "x"


@pytest.fixture
def no_download(monkeypatch):
    import pooch

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to download")

    monkeypatch.setattr(pooch, "retrieve", refuse)


def test_offline_fetch_explains_where_to_put_files(monkeypatch, tmp_path, no_download):
    monkeypatch.setenv("HEARLIKE_DATA", str(tmp_path))
    monkeypatch.setenv("HEARLIKE_OFFLINE", "1")
    with pytest.raises(RuntimeError) as info:
        eeg.fetch("broderick2018")
    message = str(info.value)
    assert f"not in {tmp_path / 'broderick2018'}" in message
    assert "EEG/Subject{subject}/Subject{subject}_Run{run}.mat" in message
    assert "HEARLIKE_DATA" in message and "doi.org/10.5061/dryad.070jc" in message


def test_manual_only_dataset_never_touches_network(monkeypatch, tmp_path, no_download):
    monkeypatch.setattr(catalog, "_network_available", lambda url, **kw: pytest.fail("network probed"))
    with pytest.raises(RuntimeError, match=r"Download it by hand from https://deepblue"):
        eeg.fetch("alice2019", dest=tmp_path)
    with pytest.raises(RuntimeError, match=r"generated locally, not downloaded: run hearlike.demo"):
        eeg.fetch("demo", dest=tmp_path)


def test_present_files_are_returned_without_network(monkeypatch, tmp_path, no_download):
    monkeypatch.setattr(catalog, "_network_available", lambda url, **kw: pytest.fail("network probed"))
    (tmp_path / "EEG" / "Subject1").mkdir(parents=True)
    (tmp_path / "EEG" / "Subject1" / "Subject1_Run1.mat").write_bytes(b"")
    assert eeg.fetch("broderick2018", dest=tmp_path) == tmp_path
