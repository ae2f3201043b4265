"""The three findings run on a fixture-sized copy of each released layout (what `make book PARAMS=...` runs).

One test: for Alice (FieldTrip .mat and BrainVision) and Broderick (Dryad .mat and OpenNeuro ds004408)
a tiny copy is written in the released layout with audio, its stimulus table is built by
``write_stimulus_table``, and the three finding notebooks execute on it with two tiny models, few
permutations and the ``swap`` null (the recordings are too short to shift sentences). The studies
share one cache folder (its entries are keyed by each dataset's fingerprint), so the tiny models are
built once.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from dataset_fixtures import write_alice, write_broderick
from hearlike import eeg
from hearlike.notebooks import run_notebooks
from test_notebooks import injected_params_file

ROOT = Path(__file__).resolve().parents[1]
FINDINGS = ["01_rank_dependence", "02_spatiotemporal", "03_affective_dissociation"]
LAYOUTS = {
    "alice-fieldtrip": ("alice2019", lambda root: write_alice(root, form="fieldtrip", subjects=("S01", "S02"),
                                                              segment_s=6.0, audio=True)),
    "alice-brainvision": ("alice2019", lambda root: write_alice(root, form="brainvision", subjects=("S01", "S02"),
                                                                segment_s=6.0, audio=True)),
    "broderick-dryad": ("broderick2018", lambda root: write_broderick(root, form="dryad", runs=(1, 2, 3),
                                                                      run_s=14.0, audio=True)),
    "broderick-openneuro": ("broderick2018", lambda root: write_broderick(root, form="openneuro", runs=(1, 2, 3),
                                                                          run_s=14.0, audio=True)),
}


def _study(name: str, tmp: Path) -> Path:
    dataset, write = LAYOUTS[name]
    data = tmp / name / "data"
    write(data)
    eeg.write_stimulus_table(dataset, root=data)
    params = {
        "dataset": dataset, "data_root": str(data), "cache_dir": str(tmp / "cache"), "stimuli_file": "stimuli.tsv",
        "subjects": "all", "models": ["tiny-text", "tiny-whisper"], "windows": {"0-250": [0, 250], "250-500": [250, 500]},
        "regions": ["all", "central"], "n_permutations": 4, "null_kind": "swap",
        "eeg": {"resample_hz": 64, "tmin_s": -0.1, "tmax_s": 0.5, "baseline_s": [-0.1, 0.0],
                "reject_peak_to_peak_v": None},
        "tnc": {"k": 2, "theta": 0.6, "model_layer_depth": 0.6},
        "notebooks": {"01_rank_dependence": {"n_boot": 20}, "02_spatiotemporal": {"searchlight_permutations": 2},
                      "03_affective_dissociation": {"n_permutations": 20, "n_examples": 1}},
    }
    path = tmp / name / "params.yml"
    path.write_text(yaml.safe_dump(params, sort_keys=False))
    return path


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Encountered unsupported non-voltage units")
def test_three_findings_run_on_each_released_layout(tmp_path):
    seconds = {}
    for name in LAYOUTS:
        start = time.perf_counter()
        params_file = _study(name, tmp_path)
        paths = run_notebooks(params_file, source_dir=ROOT / "notebooks", output_dir=tmp_path / name / "book",
                              names=FINDINGS)
        assert [p.stem for p in paths] == FINDINGS
        for path in paths:
            nb = json.loads(path.read_text())
            outputs = [o for c in nb["cells"] for o in c.get("outputs", [])]
            assert not [o for o in outputs if o.get("output_type") == "error"], (name, path.stem)
            assert any(k.endswith("image/png") for o in outputs for k in o.get("data", {})), (name, path.stem)
            injected = [c for c in nb["cells"] if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
            assert injected_params_file(injected[0]) == Path(params_file).resolve(), (name, path.stem)  # this study
        seconds[name] = round(time.perf_counter() - start, 1)
    print("seconds per layout:", seconds)
