"""The parameter records: :class:`Params` and its nested option records, with the study's defaults."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..cache import config_hash

logger = logging.getLogger(__name__)
__all__ = ["Params", "TncParams", "ExtractionParams", "project_root", "REFERENCE_PREFIX", "TINY_PREFIX", "KEEP_OPTIONS",
           "PROTOCOLS"]

#: model keys served from the dataset folder (``<data_root>/states/<key>.nc``) instead of weights
REFERENCE_PREFIX = "oracle"
#: prefix of tiny random-weight models built offline from a real architecture's config
TINY_PREFIX = "tiny-"

#: analysis protocols (``protocol:``): ``hearlike`` (word items, word-locked windows, scalp regions, the
#: timing-preserving null, FWE) or ``paper``, the reference study's (arXiv 2601.16540; :mod:`hearlike.protocol`)
PROTOCOLS = ("hearlike", "paper")

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
        float32; the by-sentence group tests of every finding need them). Default: ``("sentence",)``.
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
    protocol : str
        One of :data:`PROTOCOLS`: ``hearlike`` (the default) or ``paper``, the reference study's protocol
        as a preset (20 ms frame items, PCA-20, sentence-onset windows, per-electrode RSA, frame-shuffle
        null; :mod:`hearlike.protocol.paper`). Under ``paper``, ``windows`` count from sentence onset,
        ``regions`` is ignored (one region per electrode plus their mean, ``electrodes``) and
        ``null_kind`` is replaced by the frame shuffle.
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
    keep: tuple[str, ...] = ("sentence",)
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
    protocol: str = "hearlike"
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
        return _VALIDATE[0](values, source=self.params_file, base=None)

    def hash(self, *keys: str) -> str:
        """Short hash of the given keys' values (all keys when none are given)."""
        values = self.to_dict()
        return config_hash({k: values[k] for k in (keys or values)})


#: the validator (``hearlike.config.params_from_dict``), registered by the package when it is imported
#: (importing this module imports the package first), so records need not import their loader
_VALIDATE: list = []


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



#: what `keep:` may name (per-sentence arrays of the grid)
KEEP_OPTIONS = ("sentence",)
