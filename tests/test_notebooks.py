"""Every book notebook executes end to end through papermill on a tiny study, and shows its results."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hearlike.notebooks import run_notebooks

ROOT = Path(__file__).resolve().parents[1]
FINDINGS = ["01_rank_dependence", "02_spatiotemporal", "03_affective_dissociation"]


@pytest.fixture(scope="module")
def executed(tiny_params_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("book")
    paths = run_notebooks(tiny_params_file, source_dir=ROOT / "notebooks", output_dir=out)
    return {p.stem: json.loads(p.read_text()) for p in paths}


def _outputs(nb):
    for cell in nb["cells"]:
        yield from cell.get("outputs", [])


def test_every_source_notebook_was_executed(executed):
    sources = {p.stem for p in (ROOT / "notebooks").glob("*.md")}
    assert set(executed) == sources
    for name, nb in executed.items():
        errors = [o for o in _outputs(nb) if o.get("output_type") == "error"]
        assert not errors, f"{name} raised {errors[0].get('ename')}: {errors[0].get('evalue')}"


def test_parameters_were_injected(executed, tiny_params_file):
    for name, nb in executed.items():
        injected = [c for c in nb["cells"] if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
        assert injected, f"{name} has no papermill-injected parameters cell"
        assert str(tiny_params_file) in "".join(injected[0]["source"])


@pytest.mark.parametrize("name", FINDINGS)
def test_findings_show_figures_and_glued_numbers(executed, name):
    nb = executed[name]
    images = [o for o in _outputs(nb) if any(key.endswith("image/png") for key in o.get("data", {}))]
    assert len(images) >= 2, f"{name} produced {len(images)} figures"
    glued = {o["metadata"]["scrapbook"]["name"] for o in _outputs(nb)
             if "scrapbook" in o.get("metadata", {})}
    source = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    referenced = set(re.findall(r"\{glue(?::\w+)?\}`([^`:]+)", source))
    referenced |= set(re.findall(r"```\{glue:figure\}\s+(\S+)", source))
    assert referenced, f"{name} shows no glued value"
    missing = referenced - glued
    assert not missing, f"{name} references glue keys it never glued: {sorted(missing)}"
