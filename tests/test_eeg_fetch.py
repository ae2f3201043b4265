"""Dataset catalogue and fetch(): no downloads in tests, clear offline instructions."""

from __future__ import annotations

import pytest

from hearlike import eeg
from hearlike.eeg import catalog, download
from hearlike.eeg.datasets import alice, bids, broderick


def test_catalogue_documents_each_dataset():
    assert {"broderick2018", "alice2019", "bids", "demo", "demo-null"} <= set(eeg.dataset_names())
    broderick_spec = eeg.dataset_spec("broderick2018")
    assert broderick_spec["doi"] == "10.5061/dryad.070jc" and "Broderick" in broderick_spec["citation"]
    assert broderick_spec["layout"]["words"] == "Stimuli/Text/Run{run}.mat"
    alice_spec = eeg.dataset_spec("alice2019")
    assert alice_spec["doi"] == "10.7302/Z29C6VNH" and "Brennan" in alice_spec["citation"]
    with pytest.raises(ValueError, match=r"unknown EEG dataset 'nope'; known datasets: \["):
        eeg.dataset_spec("nope")
    with pytest.raises(ValueError, match=r"unknown EEG dataset 'nope'; known datasets: \[.*a record in its DATASETS"):
        eeg.dataset_record("nope")


def test_registry_and_catalogue_name_the_same_datasets_with_the_same_layout():
    assert eeg.dataset_names() == catalog.dataset_names()
    modules = {"broderick2018": broderick, "alice2019": alice, "bids": bids}
    for name in eeg.dataset_names():
        record, spec = eeg.dataset_record(name), eeg.dataset_spec(name)
        assert record.name == name
        if record.generated_by is None:  # published layouts are documented in datasets.yml, as the code reads them
            assert spec["layout"] == record.layout == modules[name].LAYOUT, name
        reading = {"fields", "reader", "montage", "word_columns", "mastoid_channels", "generated_by"}
        assert not reading & set(spec), f"{name}: how to read it belongs to its module, not datasets.yml"
    assert eeg.dataset_record("broderick2018").mastoid_channels == ("M1", "M2")
    assert eeg.dataset_record("demo").read_subject is bids.read_subject


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
    assert "or OpenNeuro ds004408" in message and "stimuli/audio{01..20}.wav and .TextGrid" in message
    assert message.endswith(f"`hearlike check-data broderick2018 {tmp_path / 'broderick2018'}`.")


def test_manual_only_dataset_never_touches_network(monkeypatch, tmp_path, no_download):
    monkeypatch.setattr(download, "network_available", lambda url, **kw: pytest.fail("network probed"))
    with pytest.raises(RuntimeError, match=r"Download it by hand from https://deepblue"):
        eeg.fetch("alice2019", dest=tmp_path)
    with pytest.raises(RuntimeError, match=r"generated locally, not downloaded: run hearlike.demo"):
        eeg.fetch("demo", dest=tmp_path)


def test_present_files_are_returned_without_network(monkeypatch, tmp_path, no_download):
    monkeypatch.setattr(download, "network_available", lambda url, **kw: pytest.fail("network probed"))
    (tmp_path / "EEG" / "Subject1").mkdir(parents=True)
    (tmp_path / "EEG" / "Subject1" / "Subject1_Run1.mat").write_bytes(b"")
    assert eeg.fetch("broderick2018", dest=tmp_path) == tmp_path
