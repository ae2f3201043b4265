"""Statistics on the metric grid: permutation p-values, FWE/FDR, bootstrap CIs, noise ceiling, rank agreement.

Everything takes and returns xarray objects with named dims (``model, layer, subject, window,
region, metric, sentence, permutation``); the arithmetic inside is vectorised NumPy.
"""

from .permutation import (TIE_TOLERANCE, binomial_upper, exceedance_p, fdr_bh, holm, item_random_p,
                          max_statistic_fwe, permutation_p_value, sign_flip_null, sign_flip_test)
from .reliability import bootstrap_ci, kendall_w, noise_ceiling, pairwise_kendall_tau, split_half_ceiling

__all__ = [
    "TIE_TOLERANCE",
    "exceedance_p",
    "permutation_p_value",
    "sign_flip_test",
    "sign_flip_null",
    "item_random_p",
    "binomial_upper",
    "holm",
    "max_statistic_fwe",
    "fdr_bh",
    "bootstrap_ci",
    "noise_ceiling",
    "split_half_ceiling",
    "kendall_w",
    "pairwise_kendall_tau",
]
