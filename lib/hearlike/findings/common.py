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


def crossfit_peak_layers(grid: xr.Dataset, *, metric: str, window: str, region: str = "all",
                         value: str = "excess") -> xr.DataArray:
    """Each model's peak layer for each subject, chosen on the *other* half of the subjects (no double dipping).

    Subjects are split into two halves (alternating in grid order); each subject gets the layer
    with the highest mean ``value`` over the other half. A subject's own data never enters its
    layer's selection, so a test on the subjects' values at these layers (e.g. a sign flip over
    subjects) is not biased by the selection.

    Returns
    -------
    DataArray, dims (model, subject)
        Layer labels.
    """
    return crossfit_best_layers(grid[value].sel(metric=metric, window=window, region=region))


def crossfit_best_layers(cell: xr.DataArray) -> xr.DataArray:
    """For each subject, the ``layer`` with the highest mean of ``cell`` over the *other* half of the subjects.

    ``cell`` has dims ``layer``, ``subject`` and any others (kept); subjects alternate between the
    two halves in their grid order. Returns layer labels, dims of ``cell`` without ``layer``.
    """
    subjects = cell["subject"].values
    if subjects.size < 2:
        raise ValueError(f"cross-fitted layer selection needs >= 2 subjects, got {subjects.size}")
    half = np.arange(subjects.size) % 2
    picks = []
    for h in (0, 1):
        other = cell.isel(subject=np.nonzero(half != h)[0]).mean("subject")
        picks.append(other.fillna(-np.inf).idxmax("layer").reset_coords(drop=True))
    per_subject = [picks[h] for h in half]
    out = xr.concat(per_subject, dim=xr.DataArray(subjects, dims="subject", name="subject"))
    keep = [d for d in cell.dims if d != "layer"]
    return out.transpose(*keep).rename("crossfit_layer")


def at_layers(da: xr.DataArray, layers: xr.DataArray) -> xr.DataArray:
    """Select, for every model, the layer given by ``layers`` (dims (model,), (model, metric) or (model, subject))."""
    return da.sel(layer=layers).drop_vars(["layer", "relative_depth", "component"], errors="ignore")


def group_p_values(grid: xr.Dataset, *, family: Sequence[str] = ("layer", "window", "region"),
                   random: str = "both", n_permutations: int = 1000, seed: int = 0) -> xr.Dataset:
    """Group-level permutation p-values, uncorrected and max-statistic FWE-corrected.

    Parameters
    ----------
    grid : Dataset
        The metric grid with ``group_null`` (and ``sentence_excess`` unless ``random="subject"``).
    family : sequence of str
        The FWE family within every model × metric.
    random : {"both", "subject", "item"}
        What is treated as a random effect. ``"subject"``: the subject-mean score against
        ``grid["group_null"]`` (the subject mean under the same shift-null permutations for every
        cell) -- sentences fixed. ``"item"``: each sentence's excess over the shift null, averaged
        over subjects, sign-flipped over sentences (:func:`hearlike.stats.item_random_p`).
        ``"both"`` (the book's test): a cell is significant only when both are, ``p = max`` of the
        two (valid when either test is; on the planted demo the by-subject test alone lets
        random-state models "align", see the methods chapter).
    n_permutations, seed
        Sign flips of the by-item test.

    Returns
    -------
    Dataset
        ``observed`` (subject-mean score), ``p`` and ``p_fwe``, plus ``p_subject``, ``p_fwe_subject``,
        ``p_item``, ``p_fwe_item`` for the tests computed; dims (model, layer, window, region, metric).

    The maximum statistic is taken over cells standardised by their own null mean and SD (max-T):
    cells differ in baseline (small-n bias, timing), and on raw scores the cell with the highest
    baseline would decide every cell's correction.
    """
    if random not in ("both", "subject", "item"):
        raise ValueError(f"random must be 'both', 'subject' or 'item', got {random!r}")
    observed = grid["score"].mean("subject")
    out = xr.Dataset({"observed": observed})
    if random in ("both", "subject"):
        null = grid["group_null"]
        out["p_subject"] = stats.permutation_p_value(observed, null, dim="permutation").transpose(*observed.dims)
        out["p_fwe_subject"] = stats.max_statistic_fwe(observed, null, dims=list(family), perm_dim="permutation",
                                                       standardize=True).transpose(*observed.dims)
    if random in ("both", "item"):
        if "sentence_excess" not in grid:
            raise ValueError("the by-item group test needs the grid's per-sentence scores (`sentence_excess`); "
                             "compute the grid with keep_sentences=True, or pass random='subject'")
        per_item = grid["sentence_excess"].mean("subject")
        item = stats.item_random_p(per_item, family=family, n_permutations=n_permutations, seed=seed)
        out["p_item"] = item["p"].transpose(*observed.dims)
        out["p_fwe_item"] = item["p_fwe"].transpose(*observed.dims)
    if random == "both":
        out["p"] = np.fmax(out["p_subject"], out["p_item"]).where(out["p_subject"].notnull() & out["p_item"].notnull())
        out["p_fwe"] = np.fmax(out["p_fwe_subject"], out["p_fwe_item"]).where(
            out["p_fwe_subject"].notnull() & out["p_fwe_item"].notnull())
    else:
        out["p"], out["p_fwe"] = out[f"p_{random}"], out[f"p_fwe_{random}"]
    out.attrs["random"] = random
    return out


def code_list(names: Iterable[str], *, empty: str = "none") -> str:
    """``"`a`, `b`"`` (Markdown code spans), or ``empty`` when there are none."""
    names = [f"`{n}`" for n in names]
    return ", ".join(names) if names else empty


def plural(count: int, word: str, *, plural_form: str | None = None) -> str:
    """``"1 model"``, ``"3 models"``."""
    return f"{count} {word if count == 1 else (plural_form or word + 's')}"
