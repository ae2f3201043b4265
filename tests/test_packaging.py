"""The install promises: environment.yml mirrors pyproject, the Makefile pins a CPU torch first."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _pyproject():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _pip_lines():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"], "environment.yml must pin python=3.11"
    pip = [d for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert pip, "environment.yml needs a pip: section"
    return pip[0]["pip"]


def test_environment_installs_this_package_with_every_extra():
    extras = set(_pyproject()["project"]["optional-dependencies"])
    editable = [line for line in _pip_lines() if line.startswith("-e .")]
    assert editable, "environment.yml must pip-install this package (-e .[extras])"
    listed = set(re.search(r"\[(.*)\]", editable[0]).group(1).split(","))
    assert listed == extras, f"environment.yml installs extras {listed}, pyproject defines {extras}"


def test_torch_pins_agree_and_admit_the_cpu_wheel():
    makefile = (ROOT / "Makefile").read_text()
    make_pin = re.search(r"TORCH_SPEC \?= torch==([\d.]+)", makefile).group(1)
    env_pin = [line for line in _pip_lines() if line.startswith("torch==")]
    assert env_pin == [f"torch=={make_pin}"], "environment.yml and Makefile must pin the same torch"
    spec = [d for d in _pyproject()["project"]["dependencies"] if d.startswith("torch")][0]
    upper = re.search(r"<=\s*([\d.]+)", spec)
    assert upper, f"pyproject's torch requirement {spec!r} needs an upper bound, or pip may fetch a CUDA build"
    as_tuple = lambda v: tuple(int(x) for x in v.split("."))
    assert as_tuple(make_pin) <= as_tuple(upper.group(1))


def test_book_extra_has_the_book_toolchain():
    book = " ".join(_pyproject()["project"]["optional-dependencies"]["book"])
    for name in ("jupyter-book", "jupytext", "papermill", "myst-nb", "jupyterlab"):
        assert name in book, f"the book extra lacks {name}"
    assert re.search(r"jupyter-book>=1\.0,<2", book), "the book is a Jupyter Book 1.x (Sphinx) book"
