"""Selections and tests shared by the findings: peak layers, per-model layer picks, group p-values.

Also the small wording helpers every verdict uses, so the three statements read alike.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import xarray as xr

from .. import stats

#: significance level of every verdict in the book
ALPHA = 0.05


def check_choice(grid: xr.Dataset, dim: str, value: str, *, parameter: str) -> None:
    """Raise a ``ValueError`` naming the notebook parameter when ``value`` is not on ``grid[dim]``."""
    known = [str(v) for v in grid[dim].values]
    if value not in known:
        raise ValueError(f"{parameter}={value!r} is not a {dim} of the metric grid; choose one of {known} "
                         f"(set it in the notebook's parameters or under `notebooks:` in the parameter file)")


def peak_layers(grid: xr.Dataset, *, metric: str, window: str, region: str = "all",
                value: str = "excess") -> xr.DataArray:
    """Each model's layer with the highest subject-mean ``value`` of ``metric`` in one cell.

    Returns
    -------
    DataArray, dims (model,)
        Layer labels; coords ``relative_depth`` and ``component`` of that layer.
    """
    cell = grid[value].sel(metric=metric, window=window, region=region).mean("subject")
    labels = cell.fillna(-np.inf).idxmax("layer").reset_coords(drop=True)
    models = grid["model"].values
    depth = [float(grid["relative_depth"].sel(model=m, layer=labels.sel(model=m).item())) for m in models]
    comp = [str(grid["component"].sel(model=m, layer=labels.sel(model=m).item()).item()) for m in models]
    return labels.assign_coords(relative_depth=("model", depth), component=("model", comp)).rename("peak_layer")


def at_layers(da: xr.DataArray, layers: xr.DataArray) -> xr.DataArray:
    """Select, for every model, the layer given by ``layers`` (dims (model,) or (model, metric))."""
    return da.sel(layer=layers).drop_vars(["layer", "relative_depth", "component"], errors="ignore")


def group_p_values(grid: xr.Dataset, *, family: Sequence[str] = ("layer", "window", "region")) -> xr.Dataset:
    """Group-level (subject-mean) permutation p-values, uncorrected and max-statistic FWE-corrected.

    Uses ``grid["group_null"]`` (the subject mean under the same permutations for every cell).

    Returns
    -------
    Dataset
        ``observed`` (subject-mean score), ``p`` and ``p_fwe`` (FWE over ``family`` within every
        model × metric), dims (model, layer, window, region, metric).

    The maximum statistic is taken over cells standardised by their own null mean and SD (max-T):
    cells differ in baseline (small-n bias, timing), and on raw scores the cell with the highest
    baseline would decide every cell's correction.
    """
    observed = grid["score"].mean("subject")
    null = grid["group_null"]
    p = stats.permutation_p_value(observed, null, dim="permutation")
    p_fwe = stats.max_statistic_fwe(observed, null, dims=list(family), perm_dim="permutation", standardize=True)
    return xr.Dataset({"observed": observed, "p": p, "p_fwe": p_fwe})


def code_list(names: Iterable[str], *, empty: str = "none") -> str:
    """``"`a`, `b`"`` (Markdown code spans), or ``empty`` when there are none."""
    names = [f"`{n}`" for n in names]
    return ", ".join(names) if names else empty


def plural(count: int, word: str, *, plural_form: str | None = None) -> str:
    """``"1 model"``, ``"3 models"``."""
    return f"{count} {word if count == 1 else (plural_form or word + 's')}"
