"""The analyses and verdicts behind the book's three findings, on a metric grid from :mod:`hearlike.grid`.

One module per finding, each ending in a ``statement`` that decides the verdict (Markdown) from the
numbers; the notebooks only call, display and glue.

- :mod:`~hearlike.findings.rankings` — 1. do the metrics rank the models alike?
  (:func:`~hearlike.findings.rankings.rank_dependence`, :func:`~hearlike.findings.rankings.statement`)
- :mod:`~hearlike.findings.spacetime` — 2. depth, window and scalp profiles with the paired test of
  the N400 window (:func:`~hearlike.findings.spacetime.spatiotemporal`,
  :func:`~hearlike.findings.spacetime.statement`)
- :mod:`~hearlike.findings.affect` — 3. length-matched contrast of negative-prosody vs other
  sentences per metric family (:func:`~hearlike.findings.affect.dissociation`,
  :func:`~hearlike.findings.affect.statement`)
- :mod:`~hearlike.findings.common` — peak layers, per-model layer picks, group p-values.

Every permutation p-value goes through :func:`hearlike.stats.permutation_p_value`; nothing here
reads files. Adding a finding: a module here ending in ``statement``, its notebook, ``_toc.yml``.
"""

from __future__ import annotations

from . import affect, common, rankings, spacetime
from .affect import contrast_sensitivity, length_strata, prosody_contrast
from .common import ALPHA, at_layers, crossfit_peak_layers, group_p_values, peak_layers
from .rankings import aligned_models, family_split, model_scores, null_rank_agreement, rank_agreement
from .spacetime import depth_profile, window_contrast

__all__ = [
    "affect", "common", "rankings", "spacetime", "ALPHA",
    "peak_layers", "crossfit_peak_layers", "at_layers", "group_p_values",
    "model_scores", "rank_agreement", "null_rank_agreement", "aligned_models", "family_split",
    "depth_profile", "window_contrast",
    "length_strata", "prosody_contrast", "contrast_sensitivity",
]
