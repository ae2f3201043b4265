"""`hearlike check-data <dataset> DIR`: what a hand-made dataset folder holds, one line per problem."""

from __future__ import annotations

import pytest

from dataset_fixtures import write_alice, write_broderick
from hearlike.cli import main

pytestmark = pytest.mark.filterwarnings("ignore:Encountered unsupported non-voltage units")


def run(capsys, *args):
    code = main(["check-data", *args])
    return code, capsys.readouterr().out.splitlines()


def test_complete_alice_folder_then_each_problem_on_its_own_line(tmp_path, capsys):
    write_alice(tmp_path, form="fieldtrip", subjects=("S01", "S02"), use=("S01", "S02"), segment_s=2.5, audio=True)
    code, lines = run(capsys, "alice2019", str(tmp_path))
    assert code == 0 and lines[-1] == f"alice2019: {tmp_path} is complete"
    assert "alice2019: 2 subjects: S01 S02" in lines
    (tmp_path / "proc" / "S02.mat").unlink()
    (tmp_path / "audio" / "DownTheRabbitHoleFinal_SoundFile7.wav").unlink()
    write_alice(tmp_path, form="fieldtrip", subjects=("S01", "S02"), use=("S01", "S02", "S05"), segment_s=2.5)
    (tmp_path / "S02.mat").unlink()
    write_alice(tmp_path / "x", form="brainvision", subjects=("S03",), segment_s=2.5)
    vhdr = (tmp_path / "x" / "S03.vhdr").read_text().replace("SamplingInterval=2000", "SamplingInterval=4000")
    for suffix in ("vhdr", "vmrk", "eeg"):
        (tmp_path / "x" / f"S03.{suffix}").rename(tmp_path / f"S03.{suffix}")
    (tmp_path / "S03.vhdr").write_text(vhdr)
    code, lines = run(capsys, "alice2019", str(tmp_path))
    problems = [line for line in lines if ": problem: " in line]
    assert code == 1 and lines[-1] == f"alice2019: {len(problems)} problem(s) in {tmp_path}"
    assert problems == [
        f"alice2019: problem: missing audio {tmp_path}/DownTheRabbitHoleFinal_SoundFile7.wav "
        f"(or {tmp_path}/audio/DownTheRabbitHoleFinal_SoundFile7.wav)",
        f"alice2019: problem: subject S02 is in datasets.mat `use` but has no recording under {tmp_path}",
        f"alice2019: problem: subject S05 is in datasets.mat `use` but has no recording under {tmp_path}",
        f"alice2019: problem: {tmp_path}/S03.vhdr: sampling rate 250 Hz, expected 500 Hz",
    ]


def test_broderick_openneuro_folder_lists_missing_runs_and_wrong_rates(tmp_path, capsys):
    write_broderick(tmp_path, form="openneuro", subjects=("001",), runs=(1, 2), run_s=4.0, audio=True)
    vhdr = next(tmp_path.glob("sub-001/eeg/*run-02_eeg.vhdr"))
    vhdr.write_text(vhdr.read_text().replace("SamplingInterval=1953.125", "SamplingInterval=7812.5"))
    code, lines = run(capsys, "broderick2018", str(tmp_path))
    assert code == 1
    assert "broderick2018: form: OpenNeuro ds004408 (BIDS)" in lines and "broderick2018: 1 subjects: 001" in lines
    problems = [line.split(": problem: ")[1] for line in lines if ": problem: " in line]
    assert f"{vhdr}: sampling rate 128 Hz, expected 512 Hz" in problems
    assert f"missing word timings {tmp_path}/stimuli/audio03.TextGrid" in problems
    assert f"missing recording {tmp_path}/sub-001/eeg/sub-001_task-listening_run-20_eeg.vhdr" in problems
    assert len(problems) == 1 + 3 * 18  # the rate, then TextGrid, wav and recording of runs 3..20
