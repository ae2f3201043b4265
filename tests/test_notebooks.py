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
    # two at a time, as `make book` runs them: the findings share one grid, computed once under its lock
    paths = run_notebooks(tiny_params_file, source_dir=ROOT / "notebooks", output_dir=out, jobs=2)
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
        assert injected_params_file(injected[0]) == Path(tiny_params_file).resolve()


def injected_params_file(cell) -> Path:
    """The parameter file a papermill-injected cell names, resolved from the notebooks' folder (where
    the notebook runs: the path is injected relative to it)."""
    match = re.search(r'^params_file = "(.*)"$', "".join(cell["source"]), re.M)
    assert match, f"no params_file in the injected cell: {cell['source']}"
    return (ROOT / "notebooks" / match.group(1)).resolve()


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


# -- static checks of the sources (no execution): notebooks narrate, the library decides -------

#: facts that must come from the parameters (via glue / hearlike.methods), never typed into prose
HAND_TYPED = ["swap", "re-paired", "three words", "100 permutations", "250–500", "250-500 ms", "four nearest",
              "eight metrics", "500 stratified"]


def _cells(path):
    import jupytext

    return jupytext.read(path)["cells"]


@pytest.mark.parametrize("name", FINDINGS + ["methods"])
def test_prose_types_no_fact_that_the_parameters_decide(name):
    prose = "".join(c["source"] for c in _cells(ROOT / "notebooks" / f"{name}.md") if c["cell_type"] == "markdown")
    typed = [phrase for phrase in HAND_TYPED if phrase in prose]
    assert not typed, f"{name} types {typed} by hand; glue them from hearlike.methods / the parameters"


@pytest.mark.parametrize("name", FINDINGS)
def test_finding_notebooks_only_call_display_and_glue(name):
    for cell in _cells(ROOT / "notebooks" / f"{name}.md"):
        if cell["cell_type"] != "code":
            continue
        lines = [line for line in cell["source"].splitlines() if line.strip()]
        assert len(lines) <= 15, f"{name} has a {len(lines)}-line cell; move its logic into hearlike.findings"
        assert ">=" not in cell["source"] and "< 0.05" not in cell["source"], (
            f"{name} computes a p-value or a verdict in a cell; call hearlike.findings / hearlike.stats")


def test_the_first_finding_starts_first_and_the_chapters_run_while_it_computes_the_grid():
    from hearlike.notebooks import start_order

    names = ["01_a", "02_b", "03_c", "comparison", "methods"]
    order = [p.stem for p in start_order([Path(f"{n}.md") for n in names])]
    assert order == ["01_a", "comparison", "methods", "02_b", "03_c"]
