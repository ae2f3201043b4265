"""Study parameters: one typed, validated :class:`Params` object loaded from ``params.yml``.

Every stage of the study reads its options from one YAML file so that the whole book can be re-run
on other data or models with ``make book PARAMS=other.yml`` and no notebook edits. The file is
checked once, here, when it is loaded: unknown keys are rejected with the nearest valid key named,
values are type- and range-checked, and model, metric, region and dataset names are checked against
their registries. Everything downstream takes a :class:`Params` (or plain arguments), never a raw dict.

Keys and defaults (the study's own; ``params.yml`` spells them out)
-------------------------------------------------------------------
``dataset``, ``data_root``, ``cache_dir``, ``models`` are required; every other key has a default:
``device`` ``"cpu"``, ``seed`` 0, ``metrics`` the 8 study metrics, ``extra_metrics`` debiased CKA and
dCor, ``windows`` four 250 ms windows, ``regions`` the 7 standard regions (or a dict of channel
lists), ``factor_metric_regions`` ``["all"]``, ``min_words`` 4, ``n_permutations`` 100,
``null_kind`` ``"shift"``, ``keep`` ``[]`` (``[sentence]``: also store per-sentence scores),
``scheduler`` none (the grid's chunks run here; ``local`` or a Dask scheduler address), ``stimuli_file`` ``"stimuli/stimuli.tsv"``, ``eeg`` (see
:data:`hearlike.eeg.DEFAULT_PREPROCESSING`), ``tnc`` (:class:`TncParams`), ``extraction``
(:class:`ExtractionParams`), ``notebooks`` (per-notebook papermill parameters), ``subjects``
(None: the dataset's default selection; ``all``, ``paper`` or a list), ``runs`` (None: all runs).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import yaml

from .cache import config_hash

logger = logging.getLogger(__name__)

__all__ = ["Params", "TncParams", "ExtractionParams", "load_params", "params_from_dict", "project_root",
           "REFERENCE_PREFIX", "TINY_PREFIX"]

#: model keys served from the dataset folder (``<data_root>/states/<key>.nc``) instead of weights
REFERENCE_PREFIX = "oracle"
#: prefix of tiny random-weight models built offline from a real architecture's config
TINY_PREFIX = "tiny-"

_DEFAULT_METRICS = ("spearman_rsa", "pearson_rsa", "procrustes", "mutual_knn", "linear_cka", "rbf_cka", "dcor",
                    "svcca")
_DEFAULT_WINDOWS = (("0-250", 0.0, 250.0), ("250-500", 250.0, 500.0), ("500-750", 500.0, 750.0),
                    ("750-1000", 750.0, 1000.0))
_DEFAULT_REGIONS = ("all", "frontal", "central", "parietal", "occipital", "left_temporal", "right_temporal")


@dataclass(frozen=True)
class TncParams:
    """Tri-modal Neighborhood Consistency options (``tnc:``).

    Attributes
    ----------
    k : int
        Neighbours per view (>= 1).
    theta : float
        Consistency threshold in (0, 1].
    model_layer_depth : float
        Relative depth (0–1) of the model layer used as the model view.
    model : str or None
        Model key of the model view (default: the first of ``models``).
    """

    k: int = 5
    theta: float = 0.6
    model_layer_depth: float = 0.6
    model: str | None = None


@dataclass(frozen=True)
class ExtractionParams:
    """Options of model-state extraction (``extraction:``), passed to :func:`hearlike.models.extract_states`.

    Remote code is deliberately *not* an option here: a shared parameter file must not switch it on.
    Use ``hearlike extract --trust-remote-code`` or ``extract_states(..., trust_remote_code=True)``.
    """

    pooling: str = "mean"
    context_s: float = 0.0
    segment_pad_s: float | None = 0.2
    dtype: str = "float32"
    batch_size: int = 4
    block_size: int = 16
    resample: bool = True

    def as_kwargs(self) -> dict[str, Any]:
        """The options as keyword arguments of ``extract_states``."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Params:
    """The study's parameters, validated (build with :func:`load_params` or :func:`params_from_dict`).

    Attributes
    ----------
    dataset : str
        EEG dataset name (``demo``, ``demo-null``, ``broderick2018``, ``alice2019``, ``bids``).
    data_root, cache_dir : Path
        Absolute folders: the dataset; the caches (model states, epochs, grids).
    models : tuple of str
        Model keys (``hearlike models``; ``oracle*`` reference states; ``tiny-<family>``).
    metrics, extra_metrics : tuple of str
        Metric names (``hearlike metrics``); the extra ones are shown beside the main ones.
    windows : tuple of (str, float, float)
        ``(name, start_ms, stop_ms)`` after word onset.
    regions : tuple of str, or mapping str -> tuple of str
        Standard region names (built from the montage), or explicit channel lists per region.
    factor_metric_regions : tuple of str
        Regions where Procrustes/SVCCA (an eigendecomposition per cell) are computed.
    min_words : int
        Sentences with fewer matched words are excluded (>= 3; debiased metrics need 4).
    n_permutations : int
        Null samples per cell (>= 1).
    null_kind : str
        One of :data:`hearlike.grid.nulls.NULLS` (``shift`` is the study's).
    seed : int
        Seed of every random draw.
    keep : tuple of str
        Optional grid outputs to store: ``"sentence"`` (per-sentence scores and null means,
        float32; finding 3 needs them). Default: none.
    scheduler : str or None
        Where the grid's (model, subject) chunks run: None in this process, ``"local"`` on a
        :class:`distributed.LocalCluster`, or a Dask scheduler address (``tcp://host:8786``).
    device : str
        ``"cpu"`` or ``"cuda"`` (``"cuda:N"``).
    stimuli_file : str
        The stimulus table, relative to ``data_root``.
    eeg : mapping
        Preprocessing options merged over :data:`hearlike.eeg.DEFAULT_PREPROCESSING` (read-only).
    tnc : TncParams
    extraction : ExtractionParams
    notebooks : mapping
        ``{notebook name: {parameter: value}}`` injected by papermill.
    subjects : None, str or tuple of str
        EEG subjects: None for the dataset's default (Alice: the ``datasets.mat`` ``use`` list),
        a named selection (``all``, ``paper``) or subject labels (checked against the data when the
        epochs are loaded, :func:`hearlike.eeg.resolve_subjects`).
    runs : tuple of int or None
        Runs to read (datasets with several runs per subject: Broderick, BIDS); None reads all.
    model_paths : mapping str -> Path
        ``{registry key: local weights folder}`` (absolute; relative entries of a parameter file are
        resolved against its folder): ``extract``, ``align`` and the notebooks all load these models
        from there (``hearlike.pipeline.model_states``).
    params_file : Path or None
        The file these came from (relative paths were resolved against its folder).
    """

    dataset: str
    data_root: Path
    cache_dir: Path
    models: tuple[str, ...]
    metrics: tuple[str, ...] = _DEFAULT_METRICS
    extra_metrics: tuple[str, ...] = ("cka_debiased", "dcor_debiased")
    windows: tuple[tuple[str, float, float], ...] = _DEFAULT_WINDOWS
    regions: tuple[str, ...] | Mapping[str, tuple[str, ...]] = _DEFAULT_REGIONS
    factor_metric_regions: tuple[str, ...] = ("all",)
    min_words: int = 4
    n_permutations: int = 100
    null_kind: str = "shift"
    seed: int = 0
    keep: tuple[str, ...] = ()
    scheduler: str | None = None
    device: str = "cpu"
    stimuli_file: str = "stimuli/stimuli.tsv"
    eeg: Mapping[str, Any] = field(default_factory=dict)
    tnc: TncParams = TncParams()
    extraction: ExtractionParams = ExtractionParams()
    notebooks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    subjects: str | tuple[str, ...] | None = None
    runs: tuple[int, ...] | None = None
    model_paths: Mapping[str, Path] = field(default_factory=dict)
    params_file: Path | None = None

    # -- derived values ------------------------------------------------------------------------

    @property
    def all_metrics(self) -> list[str]:
        """``metrics`` then ``extra_metrics``."""
        return list(self.metrics) + list(self.extra_metrics)

    @property
    def region_names(self) -> list[str]:
        """The region names, in order."""
        return list(self.regions)

    @property
    def stimuli_path(self) -> Path:
        """The stimulus table (its ``audio_path`` entries are relative to its folder)."""
        return self.data_root / self.stimuli_file

    @property
    def source(self) -> str:
        """Where these parameters came from, for error messages."""
        return str(self.params_file) if self.params_file else "the parameters"

    def notebook(self, name: str) -> dict[str, Any]:
        """Papermill parameters of notebook ``name`` (``notebooks:`` entry; empty if none)."""
        return dict(self.notebooks.get(name) or {})

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML/JSON-ready values (paths as strings, tuples as lists), ``params_file`` excluded."""
        out = {}
        for f in dataclasses.fields(self):
            if f.name == "params_file":
                continue
            out[f.name] = _plain(getattr(self, f.name))
        out["windows"] = {name: [start, stop] for name, start, stop in self.windows}
        return out

    def to_yaml(self) -> str:
        """The parameters as YAML, folders relative to the parameter file's folder (nothing machine-specific)."""
        import os

        values = self.to_dict()
        if self.params_file is not None:
            for key in ("data_root", "cache_dir"):
                values[key] = os.path.relpath(values[key], self.params_file.parent)
        return yaml.safe_dump(values, sort_keys=False)

    def replace(self, **changes: Any) -> "Params":
        """A copy with ``changes`` (YAML-style values), validated again."""
        values = self.to_dict() | changes
        return params_from_dict(values, source=self.params_file, base=None)

    def hash(self, *keys: str) -> str:
        """Short hash of the given keys' values (all keys when none are given)."""
        values = self.to_dict()
        return config_hash({k: values[k] for k in (keys or values)})


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def project_root() -> Path:
    """Return the repository root (the folder holding ``pyproject.toml``), else the cwd."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists() and (parent / "lib").is_dir():
            return parent
    return Path.cwd()


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------


def load_params(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Params:
    """Load and validate a study parameter file.

    Parameters
    ----------
    path : str or Path
        YAML file such as ``params.yml``. Relative paths inside it (``data_root``, ``cache_dir``)
        are resolved against the file's folder.
    overrides : mapping, optional
        Values replacing entries of the file (e.g. a tiny test configuration), applied before
        validation; their relative paths are resolved against the current directory.

    Returns
    -------
    Params

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        For invalid YAML, unknown keys (the nearest valid key is named), wrong types or ranges, or
        unknown model/metric/region/dataset names; the message names the file and the key.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"parameter file {path} does not exist (copy params.yml and edit it)")
    try:
        values = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"parameter file {path} is not valid YAML: {err}") from err
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValueError(f"parameter file {path} must hold a mapping of keys, got {type(values).__name__}")
    odd = [k for k in values if not isinstance(k, str)]
    if odd:
        raise ValueError(
            f"parameter file {path} has key(s) {odd} that YAML does not read as names (a bare `null:`, `true:`, "
            "`no:` or a number); write the intended key, e.g. `null_kind:`"
        )
    base = path.resolve().parent
    values = {k: (str((base / v).resolve()) if k in ("data_root", "cache_dir") and isinstance(v, str) else v)
              for k, v in values.items()}
    if isinstance(values.get("model_paths"), dict):
        values["model_paths"] = {k: str((base / v).resolve()) if isinstance(v, str) else v
                                 for k, v in values["model_paths"].items()}
    for key, value in (overrides or {}).items():
        values[key] = str(Path(value).resolve()) if key in ("data_root", "cache_dir") else value
    return params_from_dict(values, source=path.resolve(), base=None)


def params_from_dict(values: Mapping[str, Any], *, source: str | Path | None = None,
                     base: str | Path | None = None) -> Params:
    """Validate a mapping of parameter values (as in ``params.yml``) and build :class:`Params`.

    Parameters
    ----------
    values : mapping
        Keys as in ``params.yml``.
    source : path, optional
        The file the values came from (named in error messages; stored as ``params_file``).
    base : path, optional
        Folder that relative ``data_root``/``cache_dir`` are resolved against (default: the cwd).
    """
    where = f"parameter file {source}" if source else "parameters"
    values = dict(values)
    values.pop("params_file", None)
    _check_keys(values, where)
    missing = [k for k in _REQUIRED if k not in values]
    if missing:
        hints = "; ".join(f"{k}: {_REQUIRED[k]}" for k in missing)
        raise ValueError(f"{where} lacks required keys {missing} ({hints})")
    check = _Checker(where)
    base = Path(base) if base is not None else Path.cwd()
    eeg = check.eeg(values.get("eeg"))
    kwargs = dict(
        dataset=check.name("dataset", values["dataset"]),
        data_root=(base / check.text("data_root", values["data_root"])).resolve(),
        cache_dir=(base / check.text("cache_dir", values["cache_dir"])).resolve(),
        models=check.models(values["models"]),
        metrics=check.metrics("metrics", values.get("metrics", _DEFAULT_METRICS)),
        extra_metrics=check.metrics("extra_metrics", values.get("extra_metrics", ("cka_debiased", "dcor_debiased"))),
        windows=check.windows(values.get("windows"), eeg),
        regions=check.regions(values.get("regions", _DEFAULT_REGIONS)),
        min_words=check.integer("min_words", values.get("min_words", 4), low=3),
        n_permutations=check.integer("n_permutations", values.get("n_permutations", 100), low=1),
        null_kind=check.null_kind(values.get("null_kind", "shift")),
        seed=check.integer("seed", values.get("seed", 0), low=0),
        keep=check.keep(values.get("keep", ())),
        scheduler=check.scheduler(values.get("scheduler")),
        device=check.device(values.get("device", "cpu")),
        stimuli_file=check.text("stimuli_file", values.get("stimuli_file", "stimuli/stimuli.tsv")),
        eeg=MappingProxyType(eeg),
        tnc=check.record("tnc", values.get("tnc"), TncParams),
        extraction=check.extraction(values.get("extraction")),
        notebooks=check.notebooks(values.get("notebooks")),
        subjects=check.subjects(values.get("subjects")),
        runs=check.runs(values.get("runs")),
        model_paths=check.model_paths(values.get("model_paths"), base),
        params_file=Path(source) if source else None,
    )
    kwargs["factor_metric_regions"] = check.factor_regions(values.get("factor_metric_regions", ("all",)),
                                                           kwargs["regions"])
    params = Params(**kwargs)
    check.metric_words(params)
    check.tnc_model(params)
    check.demo_flavour(params)
    return params


#: optional grid outputs that `keep` may name
KEEP_OPTIONS = ("sentence",)

_REQUIRED = {
    "dataset": "name of the EEG dataset ('demo', 'demo-null', 'broderick2018', 'alice2019', 'bids')",
    "data_root": "folder holding the dataset (stimuli/stimuli.tsv, audio, EEG)",
    "cache_dir": "folder for cached model states, epochs and metric grids",
    "models": "list of model keys from `hearlike models` (or 'oracle')",
}
_KNOWN = tuple(f.name for f in dataclasses.fields(Params) if f.name != "params_file")


def _nearest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_keys(values: Mapping[str, Any], where: str) -> None:
    unknown = [k for k in values if k not in _KNOWN]
    if unknown:
        hints = "; ".join(f"{k!r}{_nearest(k, _KNOWN)}" for k in unknown)
        raise ValueError(f"{where}: unknown key(s) {hints}; valid keys: {', '.join(_KNOWN)}")


class _Checker:
    """Per-key checks; each error names the file (``where``) and the key."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, key: str, message: str):
        raise ValueError(f"{self.where}: `{key}` {message}")

    def text(self, key: str, value: Any) -> str:
        if not isinstance(value, str) or not value:
            self.fail(key, f"must be a non-empty string, got {value!r}")
        return value

    def name(self, key: str, value: Any) -> str:
        from .eeg.catalog import dataset_names

        value = self.text(key, value)
        known = ("demo", "demo-null", *dataset_names())
        if value not in known:
            self.fail(key, f"is {value!r}, not a known dataset{_nearest(value, known)}; known: {', '.join(dict.fromkeys(known))}")
        return value

    def integer(self, key: str, value: Any, *, low: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be an integer, got {value!r}")
        if value < low:
            self.fail(key, f"must be >= {low}, got {value}")
        return int(value)

    def number(self, key: str, value: Any, *, low: float | None = None, high: float | None = None) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.fail(key, f"must be a number, got {value!r}")
        if (low is not None and value < low) or (high is not None and value > high):
            self.fail(key, f"must lie in [{low}, {high}], got {value}")
        return float(value)

    def choice(self, key: str, value: Any, options) -> str:
        if value not in options:
            self.fail(key, f"is {value!r}; choose one of {list(options)}{_nearest(str(value), options)}")
        return value

    def null_kind(self, value: Any) -> str:
        from .grid.nulls import NULLS

        return self.choice("null_kind", value, NULLS)

    def names(self, key: str, value: Any) -> tuple[str, ...]:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            hint = f" (write `{key}: [{value}]`)" if isinstance(value, str) else ""
            self.fail(key, f"must be a list, got {value!r}{hint}")
        if not all(isinstance(v, str) and v for v in value):
            self.fail(key, f"must be a list of names, got {value!r}")
        if len(set(value)) != len(value):
            self.fail(key, f"lists a name twice: {list(value)}")
        return tuple(value)

    def models(self, value: Any) -> tuple[str, ...]:
        from .models import REGISTRY
        from .models.tiny import TINY_FAMILIES

        keys = self.names("models", value)
        if not keys:
            self.fail("models", "is empty; list at least one key from `hearlike models`")
        tiny = [TINY_PREFIX + f.replace("_", "-") for f in TINY_FAMILIES]
        known = [*REGISTRY, *tiny, "oracle", "oracle-prosody"]
        for key in keys:
            if key not in REGISTRY and key not in tiny and not key.startswith(REFERENCE_PREFIX):
                self.fail("models", f"names unknown model key {key!r}{_nearest(key, known)}; `hearlike models` lists them")
        return keys

    def model_paths(self, value: Any, base: Path) -> Mapping[str, Path]:
        from .models import REGISTRY

        if value is None:
            return MappingProxyType({})
        if not isinstance(value, Mapping):
            self.fail("model_paths", f"must map registry keys to weight folders ({{key: folder}}), got {value!r}")
        out = {}
        for key, folder in value.items():
            if key not in REGISTRY:
                self.fail("model_paths", f"names {key!r}, not a registry model{_nearest(str(key), REGISTRY)}; "
                                         f"`hearlike models` lists them (oracle and tiny-* models have no weights)")
            out[key] = (base / self.text(f"model_paths.{key}", folder)).resolve()
        return MappingProxyType(out)

    def metrics(self, key: str, value: Any) -> tuple[str, ...]:
        from .metrics import METRICS

        names = self.names(key, value) if value else ()
        for name in names:
            if name not in METRICS:
                self.fail(key, f"names unknown metric {name!r}{_nearest(name, METRICS)}; `hearlike metrics` lists them")
        return names

    def windows(self, value: Any, eeg: Mapping[str, Any]) -> tuple[tuple[str, float, float], ...]:
        if value is None:
            value = {name: [start, stop] for name, start, stop in _DEFAULT_WINDOWS}
        if not isinstance(value, Mapping) or not value:
            self.fail("windows", f"must map window names to [start_ms, stop_ms], got {value!r}")
        tmin_ms, tmax_ms = float(eeg["tmin_s"]) * 1000, float(eeg["tmax_s"]) * 1000
        out = []
        for name, span in value.items():
            if not isinstance(span, (list, tuple)) or len(span) != 2 or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in span):
                self.fail("windows", f"entry {name!r} must be [start_ms, stop_ms], got {span!r}")
            start, stop = float(span[0]), float(span[1])
            if not start < stop:
                self.fail("windows", f"entry {name!r}: start_ms ({start:g}) must be below stop_ms ({stop:g})")
            if start < tmin_ms or stop > tmax_ms:
                self.fail("windows", f"entry {name!r} ({start:g}–{stop:g} ms) lies outside the epoch "
                                     f"({tmin_ms:g}–{tmax_ms:g} ms, eeg.tmin_s/tmax_s)")
            out.append((str(name), start, stop))
        return tuple(out)

    def regions(self, value: Any):
        from .eeg.regions import REGION_NAMES

        if isinstance(value, Mapping):
            if not value:
                self.fail("regions", "is an empty mapping; give {region: [channel names]}")
            out = {}
            for name, channels in value.items():
                out[str(name)] = self.names(f"regions.{name}", channels)
                if not out[str(name)]:
                    self.fail(f"regions.{name}", "lists no channel")
            return MappingProxyType(out)
        names = self.names("regions", value)
        if not names:
            self.fail("regions", "is empty")
        for name in names:
            if name not in REGION_NAMES:
                self.fail("regions", f"names unknown region {name!r}{_nearest(name, REGION_NAMES)}; standard regions: "
                                     f"{list(REGION_NAMES)} (or give a mapping of channel lists)")
        return names

    def factor_regions(self, value: Any, regions) -> tuple[str, ...]:
        names = self.names("factor_metric_regions", value) if value else tuple(regions)
        unknown = [r for r in names if r not in regions]
        if unknown:
            self.fail("factor_metric_regions", f"names {unknown}, not among `regions` {list(regions)}")
        return names

    def subjects(self, value: Any) -> str | tuple[str, ...] | None:
        if value is None or isinstance(value, str):
            if isinstance(value, str) and not value.isidentifier():
                self.fail("subjects", f"is {value!r}; give a named selection (`all`, `paper`) or a list of subject "
                                      f"labels such as [S01, S03]")
            return value
        if not isinstance(value, (list, tuple)) or not value:
            self.fail("subjects", f"must be a named selection (`all`, `paper`) or a non-empty list of subject "
                                  f"labels, got {value!r}")
        labels = [str(v) if isinstance(v, (str, int)) and not isinstance(v, bool) else None for v in value]
        if None in labels:
            self.fail("subjects", f"must list subject labels (strings or numbers), got {value!r}")
        if len(set(labels)) != len(labels):
            self.fail("subjects", f"lists a subject twice: {labels}")
        return tuple(labels)

    def runs(self, value: Any) -> tuple[int, ...] | None:
        if value is None:
            return None
        if not isinstance(value, (list, tuple)) or not value or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
            self.fail("runs", f"must be a non-empty list of run numbers such as [1, 2, 3] (or unset for all), "
                              f"got {value!r}")
        if len(set(value)) != len(value):
            self.fail("runs", f"lists a run twice: {list(value)}")
        return tuple(int(v) for v in value)

    def keep(self, value: Any) -> tuple[str, ...]:
        names = self.names("keep", value) if value else ()
        unknown = [v for v in names if v not in KEEP_OPTIONS]
        if unknown:
            self.fail("keep", f"names {unknown}; choose from {list(KEEP_OPTIONS)} (e.g. `keep: [sentence]`)")
        return names

    def scheduler(self, value: Any) -> str | None:
        if value is None or value == "":
            return None
        value = self.text("scheduler", value)
        if value != "local" and "://" not in value:
            self.fail("scheduler", f"is {value!r}; use `local` (a Dask LocalCluster here) or a Dask scheduler "
                                   "address such as `tcp://10.0.0.1:8786`, or leave it out to run here")
        return value

    def device(self, value: Any) -> str:
        value = self.text("device", value)
        if value != "cpu" and not value.startswith("cuda"):
            self.fail("device", f"is {value!r}; use 'cpu' or 'cuda'")
        if value.startswith("cuda"):
            import torch

            if not torch.cuda.is_available():
                self.fail("device", f"is {value!r} but this machine has no CUDA GPU visible to torch "
                                    "(torch.cuda.is_available() is False); use `device: cpu`")
        return value

    def eeg(self, value: Any) -> dict[str, Any]:
        from .eeg.preprocess import validate_preprocessing

        if value is not None and not isinstance(value, Mapping):
            self.fail("eeg", f"must be a mapping of preprocessing options, got {value!r}")
        try:
            return validate_preprocessing(value)
        except ValueError as err:
            raise ValueError(f"{self.where}: `eeg`: {err}") from None

    def record(self, key: str, value: Any, cls):
        if value is None:
            return cls()
        if not isinstance(value, Mapping):
            self.fail(key, f"must be a mapping, got {value!r}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for name in value:
            if name not in fields:
                self.fail(key, f"has unknown option {name!r}{_nearest(str(name), fields)}; options: {list(fields)}")
        record = cls(**value)
        if isinstance(record, TncParams):
            self.integer("tnc.k", record.k, low=1)
            self.number("tnc.theta", record.theta, low=0.0, high=1.0)
            self.number("tnc.model_layer_depth", record.model_layer_depth, low=0.0, high=1.0)
        return record

    def extraction(self, value: Any) -> ExtractionParams:
        if isinstance(value, Mapping) and "trust_remote_code" in value:
            self.fail("extraction", "may not set `trust_remote_code`: a parameter file must not switch remote code on; "
                                    "pass `--trust-remote-code` to `hearlike extract` or trust_remote_code=True to "
                                    "hearlike.models.extract_states")
        record = self.record("extraction", value, ExtractionParams)
        self.choice("extraction.pooling", record.pooling, ("mean", "last", "center"))
        self.integer("extraction.batch_size", record.batch_size, low=1)
        self.integer("extraction.block_size", record.block_size, low=1)
        self.number("extraction.context_s", record.context_s, low=0.0)
        return record

    def notebooks(self, value: Any) -> Mapping[str, Mapping[str, Any]]:
        if value is None:
            return MappingProxyType({})
        if not isinstance(value, Mapping) or not all(isinstance(v, Mapping) or v is None for v in value.values()):
            self.fail("notebooks", f"must map notebook names to mappings of parameters, got {value!r}")
        return MappingProxyType({str(k): MappingProxyType(dict(v or {})) for k, v in value.items()})

    def metric_words(self, params: Params) -> None:
        from .metrics import METRICS

        for name in params.all_metrics:
            need = METRICS[name].min_words
            if need > params.min_words:
                self.fail("min_words", f"is {params.min_words} but metric {name!r} needs sentences of >= {need} "
                                       f"words; set `min_words: {need}` or drop the metric")

    def tnc_model(self, params: Params) -> None:
        if params.tnc.model is not None and params.tnc.model not in params.models:
            self.fail("tnc.model", f"is {params.tnc.model!r}, not one of `models` {list(params.models)}")

    def demo_flavour(self, params: Params) -> None:
        """``dataset: demo`` must not point at the null twin's folder, nor the reverse."""
        truth = params.data_root / "ground_truth.json"
        if params.dataset not in ("demo", "demo-null") or not truth.is_file():
            return
        try:
            written = json.loads(truth.read_text()).get("dataset")
        except (OSError, ValueError):
            return
        if written and written != params.dataset:
            self.fail("dataset", f"is {params.dataset!r} but data_root {params.data_root} holds the {written!r} "
                                 f"data ({truth} says so); point data_root at the {params.dataset!r} folder")
