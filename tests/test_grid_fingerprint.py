"""The data fingerprint that keys every cache (and the grid store): hashed once, still sees every edit."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from hearlike.config import load_params
from hearlike.pipeline import data_fingerprint


def _reads(monkeypatch):
    """Count the files whose bytes are read."""
    count = {"n": 0}
    real = Path.read_bytes

    def counting(self):
        count["n"] += 1
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", counting)
    return count


def test_fingerprint_is_hashed_once_and_edits_still_change_it(tiny_params_file, tiny_demo, tmp_path, monkeypatch):
    copy = shutil.copytree(tiny_demo, tmp_path / "demo")
    params = load_params(tiny_params_file, {"data_root": str(copy)})
    reads = _reads(monkeypatch)
    first = data_fingerprint(params)
    n_text = reads["n"]
    assert n_text > 0
    assert data_fingerprint(params) == first and reads["n"] == n_text  # unchanged data: no byte read again

    table = next(copy.rglob("*.tsv"))  # a text file edited in place: same size, same modification time
    stat = table.stat()
    text = table.read_text()
    table.write_text(text.replace("\t", " ", 1))
    os.utime(table, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert table.stat().st_size == stat.st_size and table.stat().st_mtime_ns == stat.st_mtime_ns
    edited = data_fingerprint(params)
    assert edited != first

    eeg = next(copy.rglob("*.eeg"))  # a binary file edited in place: its modification time moves
    data = bytearray(eeg.read_bytes())
    data[100:104] = b"\x01\x02\x03\x04"
    eeg.write_bytes(bytes(data))
    os.utime(eeg, ns=(eeg.stat().st_atime_ns, eeg.stat().st_mtime_ns + 1_000_000))
    assert data_fingerprint(params) not in (first, edited)

    (copy / "extra.txt").write_text("a new file")
    added = data_fingerprint(params)
    (copy / "extra.txt").unlink()
    assert added != data_fingerprint(params)


def test_fingerprint_equals_a_fresh_walk(tiny_params_file, tiny_demo):
    """The cached value is the one a process that never saw the data computes."""
    import hearlike.pipeline as pipeline

    params = load_params(tiny_params_file)
    cached = data_fingerprint(params)
    pipeline._FINGERPRINTS.clear()
    assert data_fingerprint(params) == cached


def test_states_are_keyed_by_the_stimuli_alone(tiny_params_file, tiny_demo, tmp_path):
    """Two copies of a dataset with the same audio and other EEG (the demo and its null twin) share
    their model states; any change to an audio file's bytes separates them."""
    from hearlike.pipeline import stimuli_fingerprint

    first = shutil.copytree(tiny_demo, tmp_path / "a")
    second = shutil.copytree(tiny_demo, tmp_path / "b")
    eeg = next(p for p in sorted(second.rglob("*")) if p.is_file() and p.suffix in (".eeg", ".fif", ".edf", ".nc")
               and "stimuli" not in p.parts)
    eeg.write_bytes(eeg.read_bytes()[::-1])  # other EEG (or other reference states): the data differ
    a, b = (load_params(tiny_params_file, {"data_root": str(root)}) for root in (first, second))
    assert data_fingerprint(a) != data_fingerprint(b)
    assert stimuli_fingerprint(a) == stimuli_fingerprint(b)  # copied files: other mtimes, same bytes

    audio = sorted((second / "stimuli").rglob("*.wav"))[0]
    data = bytearray(audio.read_bytes())
    data[-1] ^= 1  # one bit of one sample
    audio.write_bytes(bytes(data))
    assert stimuli_fingerprint(a) != stimuli_fingerprint(b)
