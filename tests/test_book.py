"""The book's checks (hearlike.bookcheck) and framing (hearlike.framing): each catches what it is for."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from hearlike import bookcheck
from hearlike.config import load_params
from hearlike.framing import data_kind, framing, model_kind

ROOT = Path(__file__).resolve().parents[1]


def test_raw_table_lines_finds_pipe_tables_only():
    text = "A sentence | with a pipe\n| quantity | value |\n|---|---:|\n| a | 1 |\nnot a table\n| a |\nplain"
    assert bookcheck.raw_table_lines(text) == ["| quantity | value |"]
    assert bookcheck.raw_table_lines("quantity\tvalue\na\t1") == []


def test_every_bibliography_entry_is_cited_and_every_citation_has_an_entry():
    sources = sorted((ROOT / "book").glob("*.md")) + sorted((ROOT / "notebooks").glob("*.md"))
    assert bookcheck.citation_problems(ROOT / "book" / "references.bib", sources) == []


def test_citation_problems_name_uncited_and_missing_keys(tmp_path):
    bib = tmp_path / "refs.bib"
    bib.write_text("@article{used,\n title={{A}}, year={2000}}\n@article{unused,\n title={{B}}, year={2001}}\n")
    page = tmp_path / "page.md"
    page.write_text("As {cite:t}`used` and {cite:p}`used,ghost` show.")
    problems = bookcheck.citation_problems(bib, [page])
    assert len(problems) == 2
    assert "entry 'unused' is cited nowhere" in problems[0]
    assert "citation 'ghost' has no entry" in problems[1]


def _site(tmp_path: Path) -> Path:
    from PIL import Image

    html = tmp_path / "html"
    (html / "_images").mkdir(parents=True)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(html / "_images" / "good.png")
    (html / "_images" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    (html / "index.html").write_text(
        '<html><body><h1 id="top">Index</h1><a href="other.html#sec">ok</a><a href="other.html#nowhere">bad anchor</a>'
        '<a href="missing.html">missing</a><a href="https://example.org">remote</a>'
        '<img src="_images/good.png"><img src="_images/bad.png"></body></html>')
    (html / "other.html").write_text('<html><body><h1>Other</h1><section id="sec"></section>'
                                     '<a href="index.html#top">back</a></body></html>')
    return html


def test_static_problems_find_broken_links_anchors_and_images(tmp_path):
    problems = bookcheck.static_problems(_site(tmp_path))
    assert len(problems) == 3, problems
    assert "link 'other.html#nowhere': no anchor #nowhere in other.html" in problems[0]
    assert "link 'missing.html' points to a missing file" in problems[1]
    assert "image '_images/bad.png' does not decode" in problems[2]


@pytest.mark.skipif(bookcheck.find_chromium(install=False)[0] is None, reason="no chromium on this machine")
def test_browser_finds_js_errors_broken_images_and_raw_tables_and_saves_screenshots(tmp_path):
    html = _site(tmp_path)
    (html / "index.html").write_text(
        '<html><body><main><h1>Index</h1><p>| a | b |<br>|---|---|</p><img src="_images/bad.png">'
        '<script>undefinedFunction()</script></main></body></html>')
    shots = tmp_path / "shots"
    chromium = bookcheck.find_chromium(install=False)[0]
    problems = bookcheck.browser_problems(html, shots, chromium, widths=(400,))
    index = [p for p in problems if p.startswith("index.html")]
    assert any("image does not decode" in p and "bad.png" in p for p in index), index
    assert any("raw Markdown table text: '| a | b |'" in p for p in index), index
    assert any("JavaScript error" in p and "undefinedFunction" in p for p in index), index
    assert not [p for p in problems if p.startswith("other.html")], problems
    assert sorted(p.name for p in shots.iterdir()) == ["index-400.png", "other-400.png"]


def test_main_skips_the_browser_with_a_reason_and_still_checks(tmp_path, monkeypatch, capsys):
    html = _site(tmp_path)
    monkeypatch.setattr(bookcheck, "find_chromium", lambda install: (None, "no chromium on PATH"))
    bib = tmp_path / "refs.bib"
    bib.write_text("")
    assert bookcheck.main(["--html", str(html), "--bib", str(bib), "--sources"]) == 1
    out = capsys.readouterr().out
    assert "browser checks SKIPPED: no chromium on PATH" in out
    assert "3 problem(s)" in out


def test_framing_names_the_data_and_every_model_kind():
    demo = load_params(ROOT / "params.yml")
    text = framing(demo)
    assert data_kind(demo) == "demo" and ":class: important" in text
    assert "*simulated* EEG with effects planted" in text
    assert "2 simulated — `oracle`, `oracle-prosody`" in text
    assert "1 released — `whisper-tiny.en`" in text
    assert "4 random-weight — `tiny-qwen2-audio`, `tiny-whisper`, `tiny-text`, `whisper-tiny.en-random`" in text
    assert "No released" not in text
    only_controls = framing(demo.replace(models=["oracle", "tiny-text"]))
    assert "No released pre-trained model is part of this run" in only_controls
    null = framing(load_params(ROOT / "params-null.yml"))
    assert "nothing planted" in null and "false positive" in null
    assert [model_kind(k) for k in ("oracle", "tiny-whisper", "qwen2-audio-7b", "whisper-tiny.en-random")] == [
        "simulated", "random-weight", "released", "random-weight"]


def test_framing_of_a_real_dataset_with_released_models(tmp_path):
    params = load_params(ROOT / "params.yml", {"dataset": "broderick2018", "data_root": str(tmp_path),
                                                "models": ["qwen2-audio-7b", "tiny-whisper"]})
    text = framing(params)
    assert data_kind(params) == "real" and ":class: note" in text
    assert "**broderick2018** EEG dataset" in text
    assert "1 released — `qwen2-audio-7b`" in text and "No released" not in text
    assert "only released models speak to Audio LLMs" in text


def test_progress_bars_honour_tqdm_disable(monkeypatch):
    from hearlike.progress import disabled

    monkeypatch.setenv("TQDM_DISABLE", "1")
    assert disabled(False) is True and disabled(None) is True
    monkeypatch.setenv("TQDM_DISABLE", "0")
    assert disabled(False) is False and disabled(None) is None


def test_real_data_page_holds_the_registry_table():
    from hearlike.framing import models_markdown

    page = (ROOT / "book" / "real_data.md").read_text()
    assert models_markdown() in page, "book/real_data.md's model table is out of step: paste hearlike.framing.models_markdown()"
    assert "<this repository>" not in page


def test_build_table_has_the_date_and_the_versions():
    import datetime
    import importlib.metadata

    from hearlike.buildinfo import build_table, espeak_version

    table = build_table(now=datetime.datetime(2026, 1, 2, 3, 4, tzinfo=datetime.timezone.utc))["value"]
    assert table["book built (UTC)"] == "2026-01-02 03:04"
    assert table["matplotlib"] == importlib.metadata.version("matplotlib")
    assert table["seaborn"] == importlib.metadata.version("seaborn")
    assert table["libespeak-ng"] == espeak_version()
    assert espeak_version()[0].isdigit(), espeak_version()  # e.g. "1.52-dev"


def test_injected_parameters_cell_is_folded(tmp_path):
    import nbformat

    from hearlike.notebooks import _fold_parameter_cells

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                      nbformat.v4.new_code_cell("x = 2", metadata={"tags": ["injected-parameters"]}),
                      nbformat.v4.new_code_cell("print(x)")]
    notebook.metadata["papermill"] = {"input_path": "/tmp/x/in.ipynb", "output_path": "/home/me/book/.out.tmp.ipynb"}
    path = tmp_path / "nb.ipynb"
    nbformat.write(notebook, path)
    _fold_parameter_cells(path)
    folded = nbformat.read(path, as_version=4)
    assert [cell.metadata.get("tags", []) for cell in folded.cells] == [["parameters"],
                                                                        ["injected-parameters", "hide-input"], []]
    assert folded.metadata["papermill"] == {"input_path": "in.ipynb", "output_path": ".out.tmp.ipynb"}
