"""Per-key checks of the parameters; every error names the file and the key and says how to fix it."""

from __future__ import annotations

import dataclasses
import difflib
import json
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from .records import _DEFAULT_WINDOWS, KEEP_OPTIONS, PROTOCOLS, REFERENCE_PREFIX, TINY_PREFIX, ExtractionParams, Params, TncParams



REQUIRED_KEYS = {
    "dataset": "name of the EEG dataset ('demo', 'demo-null', 'broderick2018', 'alice2019', 'bids')",
    "data_root": "folder holding the dataset (stimuli/stimuli.tsv, audio, EEG)",
    "cache_dir": "folder for cached model states, epochs and metric grids",
    "models": "list of model keys from `hearlike models` (or 'oracle')",
}
KNOWN_KEYS = tuple(f.name for f in dataclasses.fields(Params) if f.name != "params_file")


def nearest(word: str, options) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_keys(values: Mapping[str, Any], where: str) -> None:
    unknown = [k for k in values if k not in KNOWN_KEYS]
    if unknown:
        hints = "; ".join(f"{k!r}{nearest(k, KNOWN_KEYS)}" for k in unknown)
        raise ValueError(f"{where}: unknown key(s) {hints}; valid keys: {', '.join(KNOWN_KEYS)}")


class Checker:
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
        from ..eeg.catalog import dataset_names

        value = self.text(key, value)
        known = ("demo", "demo-null", *dataset_names())
        if value not in known:
            self.fail(key, f"is {value!r}, not a known dataset{nearest(value, known)}; known: {', '.join(dict.fromkeys(known))}")
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
            self.fail(key, f"is {value!r}; choose one of {list(options)}{nearest(str(value), options)}")
        return value

    def null_kind(self, value: Any) -> str:
        from ..grid.nulls import NULLS

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
        from ..models import REGISTRY
        from ..models.tiny import TINY_FAMILIES

        keys = self.names("models", value)
        if not keys:
            self.fail("models", "is empty; list at least one key from `hearlike models`")
        tiny = [TINY_PREFIX + f.replace("_", "-") for f in TINY_FAMILIES]
        known = [*REGISTRY, *tiny, "oracle", "oracle-prosody"]
        for key in keys:
            if key not in REGISTRY and key not in tiny and not key.startswith(REFERENCE_PREFIX):
                self.fail("models", f"names unknown model key {key!r}{nearest(key, known)}; `hearlike models` lists them")
        return keys

    def model_paths(self, value: Any, base: Path) -> Mapping[str, Path]:
        from ..models import REGISTRY

        if value is None:
            return MappingProxyType({})
        if not isinstance(value, Mapping):
            self.fail("model_paths", f"must map registry keys to weight folders ({{key: folder}}), got {value!r}")
        out = {}
        for key, folder in value.items():
            if key not in REGISTRY:
                self.fail("model_paths", f"names {key!r}, not a registry model{nearest(str(key), REGISTRY)}; "
                                         f"`hearlike models` lists them (oracle and tiny-* models have no weights)")
            out[key] = (base / self.text(f"model_paths.{key}", folder)).resolve()
        return MappingProxyType(out)

    def metrics(self, key: str, value: Any) -> tuple[str, ...]:
        from ..metrics import METRICS

        names = self.names(key, value) if value else ()
        for name in names:
            if name not in METRICS:
                self.fail(key, f"names unknown metric {name!r}{nearest(name, METRICS)}; `hearlike metrics` lists them")
        return names

    def protocol(self, value: Any) -> str:
        return self.choice("protocol", value, PROTOCOLS)

    def windows(self, value: Any, eeg: Mapping[str, Any], *,
                protocol: str = "hearlike") -> tuple[tuple[str, float, float], ...]:
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
            if protocol == "paper":  # from sentence onset: any span at or after it
                if start < 0:
                    self.fail("windows", f"entry {name!r} starts before sentence onset ({start:g} ms); under "
                                         "`protocol: paper` windows count from sentence onset (>= 0 ms)")
            elif start < tmin_ms or stop > tmax_ms:
                self.fail("windows", f"entry {name!r} ({start:g}–{stop:g} ms) lies outside the epoch "
                                     f"({tmin_ms:g}–{tmax_ms:g} ms, eeg.tmin_s/tmax_s)")
            out.append((str(name), start, stop))
        return tuple(out)

    def regions(self, value: Any):
        from ..eeg.regions import REGION_NAMES

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
                self.fail("regions", f"names unknown region {name!r}{nearest(name, REGION_NAMES)}; standard regions: "
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
        from ..eeg.preprocess import validate_preprocessing

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
                self.fail(key, f"has unknown option {name!r}{nearest(str(name), fields)}; options: {list(fields)}")
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
        from ..metrics import METRICS

        for name in params.all_metrics:
            need = METRICS[name].min_words
            if need > params.min_words:
                self.fail("min_words", f"is {params.min_words} but metric {name!r} needs sentences of >= {need} "
                                       f"words; set `min_words: {need}` or drop the metric")

    def paper_metrics(self, params: Params) -> None:
        """Under ``protocol: paper`` every metric must be a ``gram`` metric (the per-electrode items are scalars)."""
        from ..metrics import METRICS

        if params.protocol != "paper":
            return
        factor = [m for m in params.all_metrics if METRICS[m].kind != "gram"]
        if factor:
            key = "metrics" if set(factor) & set(params.metrics) else "extra_metrics"
            self.fail(key, f"names {factor} but `protocol: paper` compares one electrode's values (one feature per "
                           "frame), where Procrustes and SVCCA are trivial; drop them (the study's metrics are "
                           "RSA, CKA, dCor and HSIC)")

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

