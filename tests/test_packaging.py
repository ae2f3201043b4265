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


PACKAGE_DATA = ("hearlike/data/datasets.yml", "hearlike/data/demo_sentences.tsv")


def test_wheel_ships_the_package_data_and_finds_it_installed(tmp_path):
    """A non-editable install has no repository around it: the data must be inside the package."""
    import shutil
    import subprocess
    import sys
    import zipfile

    source = tmp_path / "src"  # a copy, so the build leaves no build/ or egg-info in the checkout
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "lib", source / "lib", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
         "-w", str(tmp_path / "dist"), str(source)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("hearlike-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        missing = [name for name in PACKAGE_DATA if name not in names]
        assert not missing, f"the wheel lacks {missing}; list them under [tool.setuptools.package-data]"
        archive.extractall(tmp_path / "site")
    for name in PACKAGE_DATA:  # data/ of the repository shows the packaged files, not copies of them
        link = ROOT / "data" / Path(name).name
        assert link.is_symlink() and link.resolve() == (ROOT / "lib" / name).resolve(), link
    probe = (
        "import hearlike, hearlike.eeg as eeg\n"
        "from hearlike.demo import load_sentence_list\n"
        "print(hearlike.__file__)\n"
        "print(eeg.dataset_spec('alice2019')['doi'], len(load_sentence_list()))\n"
    )
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert run.returncode == 0, run.stderr[-2000:]
    where, found = run.stdout.strip().splitlines()[-2:]
    assert where.startswith(str(tmp_path / "site")), f"imported {where}, not the wheel's copy"
    assert found == "10.7302/Z29C6VNH 60"
