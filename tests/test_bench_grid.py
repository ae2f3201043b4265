"""bench/grid.py --quick runs and every peer gives hearlike's numbers (no time is asserted)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_grid_quick_peers_agree(tmp_path):
    out = tmp_path / "rows.json"
    subprocess.run([sys.executable, str(ROOT / "bench" / "grid.py"), "--quick", "--json", str(out)],
                   check=True, capture_output=True, text=True, timeout=120)
    rows = json.loads(out.read_text())["rows"]
    tools = {(r["permutations"], r["tool"]) for r in rows}
    assert {(5, "hearlike"), (5, "numpy-loop"), (5, "rsatoolbox"), (5, "mne-rsa")} <= tools
    assert len({r["metric"] for r in rows}) == 9  # 8 metrics and "all 8"
    bad = [(r["permutations"], r["metric"], r["tool"], r["max_diff"]) for r in rows if not r["equal"]]
    assert not bad, f"peers disagree with hearlike: {bad}"


@pytest.mark.slow
def test_bench_memory_runs_both_paths_and_reads_one_subject_per_task_over_budget():
    """bench/memory.py at toy size (no memory is asserted: it prints a measurement)."""
    run = subprocess.run([sys.executable, str(ROOT / "bench" / "memory.py"), "--subjects", "2", "--sentences", "8",
                          "--layers", "2", "--features", "8", "--channels", "8", "--samples", "154",
                          "--permutations", "1"], check=True, capture_output=True, text=True, timeout=120)
    rows = [line.split() for line in run.stdout.splitlines() if line.split()[:1] in (["lazy"], ["read"])]
    assert [r[0] for r in rows] == ["lazy", "read"]
    assert all(float(r[3]) > 0 for r in rows)
