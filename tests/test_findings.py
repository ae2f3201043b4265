"""Finding-level statistics and verdicts on synthetic grids whose truth is known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from hearlike import findings, stats
from hearlike.findings import affect, rankings, spacetime

WINDOWS = ["0-250", "250-500", "500-750"]


def _grid(rng, *, aligned_gain=0.0, n_models=6, n_layers=4, n_metrics=5, n_subjects=6, n_perm=200,
          windows=("250-500",), gain_window="250-500"):
    """A grid where all metrics read the same noise (shared across metrics, as on real EEG) and
    model ``m0`` optionally aligns (``aligned_gain`` added to its observed scores in ``gain_window``)."""
    dims = ("model", "layer", "subject", "window", "region", "metric")
    n_win = len(windows)
    shape = (n_models, n_layers, n_subjects, n_win, 1, n_metrics)
    shared = rng.standard_normal((n_models, n_layers, n_subjects, n_win, 1, 1))
    score = shared + 0.2 * rng.standard_normal(shape)
    score[0, :, :, list(windows).index(gain_window)] += aligned_gain
    shared_null = rng.standard_normal((n_models, n_layers, n_win, 1, 1, n_perm))
    group_null = (shared_null + 0.2 * rng.standard_normal((n_models, n_layers, n_win, 1, n_metrics, n_perm))) / np.sqrt(n_subjects)
    metrics = [f"k{i}" for i in range(n_metrics)]
    coords = {"model": [f"m{i}" for i in range(n_models)], "layer": [f"decoder.{i}" for i in range(n_layers)],
              "subject": [f"{i:02d}" for i in range(n_subjects)], "window": list(windows), "region": ["all"],
              "metric": metrics, "permutation": np.arange(n_perm),
              "family": ("metric", ["geometric" if i < n_metrics // 2 else "covariance" for i in range(n_metrics)]),
              "relative_depth": (("model", "layer"), np.tile(np.linspace(0, 1, n_layers), (n_models, 1))),
              "component": (("model", "layer"), np.full((n_models, n_layers), "decoder"))}  # fmt: skip
    null_mean = np.zeros(shape)
    # per-sentence excess (12 sentences): the cell's excess plus item noise, for the by-item test
    sentence_excess = (score - null_mean)[..., None] + 3.0 * rng.standard_normal(shape + (12,))
    coords["sentence"] = [f"s{i:02d}" for i in range(12)]
    return xr.Dataset({"score": (dims, score), "null_mean": (dims, null_mean), "excess": (dims, score - null_mean),
                       "sentence_excess": (dims + ("sentence",), sentence_excess),
                       "group_null": (dims[:2] + dims[3:] + ("permutation",), group_null)}, coords=coords)  # fmt: skip


def test_metrics_sharing_noise_agree_under_the_null_and_the_permutation_test_knows_it():
    rng = np.random.default_rng(0)
    grid = _grid(rng)
    result = rankings.rank_dependence(grid, window="250-500", n_boot=50)
    assert float(result["w"]["p_value"]) < 0.01  # the chi-square test (independent raters) is fooled ...
    assert float(result["w_null"].mean()) > 0.5  # ... because metrics reading the same noise agree anyway
    assert result["w_perm_p"] > 0.05, (float(result["w"]["w"]), float(result["w_null"].mean()))
    slow = (1 + int((result["w_null"] >= float(result["w"]["w"])).sum())) / (1 + result["w_null"].sizes["permutation"])
    assert result["w_perm_p"] == pytest.approx(slow)


def test_aligned_models_names_the_model_that_aligns():
    rng = np.random.default_rng(1)
    table = findings.aligned_models(_grid(rng, aligned_gain=3.0), window="250-500")
    assert table.loc["m0", "n_metrics_significant"] == 5
    assert (table.drop(index="m0")["n_metrics_significant"] == 0).all(), table


def test_family_split_p_value_is_the_exact_share_of_relabellings():
    metrics = [f"k{i}" for i in range(4)]
    tau = xr.DataArray([[1, .9, .1, .1], [.9, 1, .1, .1], [.1, .1, 1, .8], [.1, .1, .8, 1]],
                       dims=("metric", "metric_other"), coords={"metric": metrics, "metric_other": metrics})
    families = xr.DataArray(["geometric", "geometric", "covariance", "covariance"], dims="metric", coords={"metric": metrics})
    split = findings.family_split(tau, families)
    # 6 relabellings of 2 + 2 metrics; the observed one and its mirror image reach the observed split
    assert split["n_relabelings"] == 6
    assert split["p_value"] == pytest.approx(2 / 6)
    assert split["within_by_family"] == {"covariance": pytest.approx(0.8), "geometric": pytest.approx(0.9)}


def test_rankings_statement_says_no_model_aligns_on_noise():
    result = rankings.rank_dependence(_grid(np.random.default_rng(1)), window="250-500", n_boot=50)
    assert result["n_aligned"] == 0
    assert "**No model aligns with the EEG here**" in rankings.statement(result)


def test_rankings_statement_names_a_family_split_when_present():
    split = {"within": 0.8, "across": 0.1, "difference": 0.7, "p_value": 0.03, "n_relabelings": 70,
             "within_by_family": {"geometric": 0.9, "covariance": 0.7}}
    result = {"split": split, "alpha": 0.05, "n_aligned": 3, "w_perm_p": 0.5}
    assert rankings.statement(result) == (
        "Rankings agree within a metric family with mean τ = 0.80 (geometric 0.90, covariance-based 0.70) and "
        "across families with mean τ = 0.10; exact relabelling test over 70 family assignments: p = 0.030. "
        "**The ranking of models splits by metric family.**")
    no_split = dict(result, split=dict(split, p_value=0.4))
    assert rankings.statement(no_split).endswith(
        "**Agreement between the metrics is not shown** (W does not beat its permutation null), and neither is "
        "disagreement (no pair of metrics ranks the models in reliably opposite order).")
    assert rankings.statement(dict(no_split, reversed_pairs=[("a", "b")])).endswith(
        "**The metrics disagree**: some rank the models in reliably opposite order (bootstrap CI of τ below 0: "
        "a vs b), but not systematically by family.")
    assert rankings.statement(dict(no_split, w_perm_p=0.01)).endswith(
        "**The metrics broadly agree** (W above its permutation null) and show no reliable family split.")


def test_reversed_pairs_needs_the_whole_ci_below_zero():
    metrics = ["a", "b", "c"]
    high = xr.DataArray([[1, -0.1, 0.2], [-0.1, 1, 0.5], [0.2, 0.5, 1]], dims=("metric", "metric_other"),
                        coords={"metric": metrics, "metric_other": metrics})
    tau = xr.Dataset({"tau": high - 0.3, "low": high - 0.6, "high": high})
    assert rankings.reversed_pairs(tau) == [("a", "b")]


def _spacetime(gain):
    grid = _grid(np.random.default_rng(2), aligned_gain=gain, windows=WINDOWS, n_metrics=2)
    return spacetime.spatiotemporal(grid, metric="k0", target_window="250-500")


def test_spacetime_statements_find_the_planted_peak_and_window():
    result = _spacetime(3.0)
    assert result["best_model"] == "m0"
    assert spacetime.depth_statement(result).startswith(
        "1 of 6 models have a significant peak (FWE-corrected *p* < 0.05). The strongest alignment is `m0`")
    assert spacetime.window_statement(result, window_label="250–500 ms") == (
        "In 1 of 6 models the 250–500 ms window aligns better than *every* other window (paired sign-flip "
        "tests over subjects, Holm-corrected *p* < 0.05): `m0`.")
    assert spacetime.region_statement(result).endswith("(excess {:.3f}).".format(result["top_region_excess"]))


def test_spacetime_statements_say_nothing_is_significant_on_noise():
    result = _spacetime(0.0)
    assert spacetime.depth_statement(result).startswith("**No model's peak is significant**")
    assert spacetime.window_statement(result).startswith(
        "**In none of the 6 models does the 250-500 ms window align better than every other window**")
    assert spacetime.region_statement(result).endswith("that layer's peak is not significant, so the map locates noise.")


def test_compare_summary_lists_every_model_peak():
    grid = _grid(np.random.default_rng(2), aligned_gain=3.0, windows=WINDOWS, n_metrics=2)
    profile, peaks, summary = spacetime.compare_summary(grid, metric="k0", target_window="250-500",
                                                        dataset="demo-null", window_label="250–500 ms")
    assert summary.startswith(f"Peak layers in `demo-null` (250–500 ms): `m0` {peaks.sel(model='m0').item()}: excess ")
    assert summary.count("p_FWE = ") == 6 and set(profile["model"].values) == set(grid["model"].values)
    assert summary.endswith(" **Significant peak** (FWE-corrected *p* < 0.05): `m0`.")
    _, _, null_summary = spacetime.compare_summary(_grid(np.random.default_rng(3), windows=WINDOWS, n_metrics=2),
                                                   metric="k0", target_window="250-500", dataset="demo-null")
    assert null_summary.endswith(" **No model's peak is significant** (FWE-corrected *p* ≥ 0.05).")


def test_spacetime_names_the_parameter_of_an_unknown_window():
    grid = _grid(np.random.default_rng(2), windows=WINDOWS, n_metrics=2)
    with pytest.raises(ValueError, match=r"target_window='300-500' is not a window of the metric grid; choose one of "
                                         r"\['0-250', '250-500', '500-750'\]"):
        spacetime.spatiotemporal(grid, metric="k0", target_window="300-500")


def test_sign_flip_test_is_the_exact_share_of_flips():
    diff = xr.DataArray([[1.0, 2.0, 3.0], [1.0, -2.0, 0.5]], dims=("model", "subject"))
    p = stats.sign_flip_test(diff)
    flips = np.array(np.meshgrid(*[[1, -1]] * 3)).reshape(3, -1).T
    slow = [(flips @ row / 3 >= row.mean() - 1e-12).mean() for row in diff.values]
    np.testing.assert_allclose(p.values, slow)
    assert float(p[0]) == 1 / 8


def test_holm_matches_the_step_down_definition():
    np.testing.assert_allclose(stats.holm(np.array([0.01, 0.04, 0.03])), [0.03, 0.06, 0.06])


def _contrast_inputs(effect_sd, *, n=48, seed=3):
    """Two models × 4 metrics; in model ``a`` negative sentences lower geometric, raise covariance scores."""
    rng = np.random.default_rng(seed)
    ids = [f"s{i:02d}" for i in range(n)]
    negative = pd.Series(np.arange(n) % 2 == 0, index=ids)
    values = rng.standard_normal((2, 4, n))
    values[0, :2, negative.to_numpy()] -= effect_sd
    values[0, 2:, negative.to_numpy()] += effect_sd
    scores = xr.DataArray(values, dims=("model", "metric", "sentence"),
                          coords={"model": ["a", "b"], "metric": ["g0", "g1", "c0", "c1"], "sentence": ids,
                                  "n_words": ("sentence", 4 + np.arange(n) % 8)})
    families = xr.DataArray(["geometric", "geometric", "covariance", "covariance"], dims="metric",
                            coords={"metric": ["g0", "g1", "c0", "c1"]})
    return scores, negative, families


def _contrast(effect_sd):
    scores, negative, families = _contrast_inputs(effect_sd)
    return affect.prosody_contrast(scores, negative, families=families, n_permutations=500)


def test_affect_statement_names_the_dissociated_model_and_its_metrics():
    result = {"contrast": _contrast(1.5), "alpha": 0.05, "reason": ""}
    assert affect.statement(result) == (
        "**In 1 of 2 models negative prosody lowers geometric similarity but raises covariance-based dependence** "
        "(two-sided interaction, Holm-corrected p < 0.05): `a`. For `a` the metrics that fall are g0, g1; those that "
        "rise are c0, c1 (one-sided p < 0.05). The other 1 model show no reliable family × prosody interaction in "
        "either direction.")


def test_affect_statement_reads_the_direction_from_the_data():
    # the reverse effect (covariance down, geometric up) is found by the two-sided test and named as such
    result = {"contrast": _contrast(-1.5), "alpha": 0.05, "reason": ""}
    assert affect.statement(result).startswith(
        "**In 1 of 2 models negative prosody lowers covariance-based dependence but raises geometric similarity** "
        "(two-sided interaction, Holm-corrected p < 0.05): `a`. For `a` the metrics that fall are c0, c1; those "
        "that rise are g0, g1")


def test_rate_strata_split_each_length_stratum_at_its_median_rate():
    strata = np.array([0, 0, 0, 0, 1, 1, 2])
    rate = np.array([1.0, 4.0, 2.0, 3.0, 5.0, 1.0, np.nan])
    np.testing.assert_array_equal(affect.rate_strata(rate, strata), [0, 1, 0, 1, 3, 2, 4])
    table = pd.DataFrame({"sentence_id": ["a", "a", "b"], "word": ["x", "y", "z"], "onset_s": [0.0, 0.5, 0.0],
                          "offset_s": [0.4, 1.0, 0.25]})
    assert affect.speech_rate(table).to_dict() == {"a": 2.0, "b": 4.0}


def test_affect_statement_without_an_effect_or_a_contrast():
    assert affect.statement({"contrast": _contrast(0.0), "alpha": 0.05, "reason": ""}) == (
        "All 2 models show no reliable family × prosody interaction in either direction.")
    reason = "no sentence-length stratum holds both conditions; widen the length bins"
    assert affect.statement({"contrast": None, "alpha": 0.05, "reason": reason}) == (
        f"**No contrast could be computed**: {reason}.")


def test_prosody_contrast_p_values_agree_with_counting_the_same_shuffles():
    scores, negative, families = _contrast_inputs(0.3)
    n = 200
    contrast = affect.prosody_contrast(scores, negative, families=families, n_permutations=n, seed=7)
    # slow reference: every shuffle one at a time, counted with a tie margin
    labels = negative.reindex(scores["sentence"].values).to_numpy()
    strata = affect.length_strata(scores["n_words"].values)
    z = ((scores - scores.mean("sentence")) / scores.std("sentence", ddof=1)).values
    rng = np.random.default_rng(7)
    null = np.stack([affect._stratified_difference(z, affect._permute_within(labels, strata, rng), strata)
                     for _ in range(n)])
    observed = affect._stratified_difference(z, labels, strata)
    np.testing.assert_allclose(contrast["p_higher"].values, (1 + (null >= observed - 1e-12).sum(0)) / (1 + n))
    np.testing.assert_allclose(contrast["p_lower"].values, (1 + (null <= observed + 1e-12).sum(0)) / (1 + n))
    inter = null[..., 2:].mean(-1) - null[..., :2].mean(-1)
    obs_inter = observed[..., 2:].mean(-1) - observed[..., :2].mean(-1)
    # two-sided: distance from the null mean
    dist, obs_dist = np.abs(inter - inter.mean(0)), np.abs(obs_inter - inter.mean(0))
    np.testing.assert_allclose(contrast["p_interaction"].values, (1 + (dist >= obs_dist - 1e-12).sum(0)) / (1 + n))


def test_sensitivity_statement_counts_significant_settings():
    table = pd.DataFrame({"k": [3, 5, 7], "theta": [0.6] * 3, "p_interaction": [0.01, 0.2, np.nan]})
    table.attrs["n_permutations"] = 500
    assert affect.sensitivity_statement(table, model="oracle") == (
        "For `oracle`, the interaction is significant (*p* < 0.05, 500 stratified shuffles each) in 1 of 3 TNC settings.")
    assert affect.sensitivity_statement(table.assign(p_interaction=np.nan), model="oracle").startswith(
        "For `oracle`, no TNC setting leaves both conditions")


def test_crossfit_peak_layers_choose_on_the_other_half_and_select_per_subject():
    # layer 2 is best in even-position subjects, layer 0 in odd ones: each subject gets the other half's pick
    excess = np.zeros((1, 3, 4, 1, 1, 1))
    excess[0, 2, [0, 2]] = 1.0
    excess[0, 0, [1, 3]] = 2.0
    dims = ("model", "layer", "subject", "window", "region", "metric")
    grid = xr.Dataset({"excess": (dims, excess)},
                      coords={"model": ["m"], "layer": ["l0", "l1", "l2"], "subject": ["a", "b", "c", "d"],
                              "window": ["w"], "region": ["all"], "metric": ["k"]})
    layers = findings.crossfit_peak_layers(grid, metric="k", window="w")
    assert layers.sel(model="m").values.tolist() == ["l0", "l2", "l0", "l2"]
    picked = findings.at_layers(grid["excess"].sel(metric="k", region="all", window="w"), layers)
    assert set(picked.dims) == {"model", "subject"}
    # each subject's value at the layer the other half chose: 0 (the other half's layer is not its own best)
    assert picked.sel(model="m").values.tolist() == [0.0, 0.0, 0.0, 0.0]


def test_window_test_after_crossfit_selection_is_not_fooled_by_the_peak_choice():
    # pure noise over layers × windows: selecting the target window's peak on the same subjects makes
    # "target beats the others" too frequent; cross-fitted selection keeps it near the nominal rate
    rng = np.random.default_rng(5)
    hits_same, hits_cross, n_rep = 0, 0, 100
    for _ in range(n_rep):
        grid = _grid(rng, n_models=1, n_layers=30, n_subjects=10, n_metrics=1, windows=("0-250", "250-500"), n_perm=10)
        grid["excess"] = xr.DataArray(rng.standard_normal(grid["excess"].shape), dims=grid["excess"].dims)  # no effect
        grid = grid.drop_vars("sentence_excess", errors="ignore")  # the selection over subjects alone
        same = spacetime.window_contrast(grid, metric="k0", layers=findings.peak_layers(grid, metric="k0", window="250-500"),
                                         target="250-500")
        cross = spacetime.window_contrast(grid, metric="k0", target="250-500",
                                          layers=findings.crossfit_peak_layers(grid, metric="k0", window="250-500"))
        hits_same += int(same["p_value"].min() < 0.05)
        hits_cross += int(cross["p_value"].min() < 0.05)
    assert hits_same / n_rep > 0.3
    assert hits_cross / n_rep < 0.13  # nominal 5 %; 100 draws


def _shared_structure_grid(rng, *, n_subjects=8, n_sentences=30, subject_noise=0.05):
    """One random model whose chance match with EEG structure all subjects share: its per-sentence
    excess in the target window is the same draw c_j in every subject (plus a little subject noise)."""
    shared = rng.standard_normal(n_sentences)
    sent = np.zeros((1, 1, n_subjects, 2, 1, 1, n_sentences))
    sent[0, 0, :, 1, 0, 0, :] = shared + subject_noise * rng.standard_normal((n_subjects, n_sentences))
    dims = ("model", "layer", "subject", "window", "region", "metric")
    coords = {"model": ["random"], "layer": ["l0"], "subject": [f"s{i}" for i in range(n_subjects)],
              "window": ["0-250", "250-500"], "region": ["all"], "metric": ["k"]}
    return xr.Dataset({"excess": (dims, sent.mean(-1)), "sentence_excess": ((*dims, "sentence"), sent)},
                      coords=coords | {"sentence": [f"x{j}" for j in range(n_sentences)]})


def test_window_test_treats_sentences_as_random_so_shared_eeg_structure_does_not_make_an_n400():
    # by subjects alone, a random model "beats" the other window whenever its shared chance match is
    # positive (about half the draws); with the by-sentence test required too, near the nominal rate
    rng = np.random.default_rng(11)
    layers = xr.DataArray(["l0"], dims="model", coords={"model": ["random"]})
    hits_subject, hits_both, n_rep = 0, 0, 200
    for _ in range(n_rep):
        contrast = spacetime.window_contrast(_shared_structure_grid(rng), metric="k", layers=layers,
                                             target="250-500", seed=int(rng.integers(1 << 30)))
        hits_subject += int(contrast["p_subject"].min() < 0.05)
        hits_both += int(contrast["p_value"].min() < 0.05)
        assert float(contrast["p_value"].min()) >= float(contrast["p_subject"].min())
    assert hits_subject / n_rep > 0.3
    assert hits_both / n_rep < 0.09  # nominal 5 %, 200 draws


def test_ceiling_statement_sets_peak_scores_beside_the_noise_ceiling():
    grid = _grid(np.random.default_rng(2), aligned_gain=3.0, windows=WINDOWS, n_metrics=2)
    grid = grid.assign_coords(metric=["spearman_rsa", "linear_cka"])
    result = spacetime.spatiotemporal(grid, metric="spearman_rsa", target_window="250-500")
    rng = np.random.default_rng(0)
    shared = rng.standard_normal((1, 1, 3, 10))
    rdms = xr.DataArray(shared + rng.standard_normal((6, 1, 1, 3, 10)), dims=("subject", "window", "region", "sentence", "pair"),
                        coords={"window": ["250-500"], "region": ["all"]})
    text = spacetime.ceiling_statement(result, grid, rdms)
    nc = stats.noise_ceiling(rdms).sel(window="250-500", region="all")
    assert text.startswith(f"Noise ceiling of `spearman_rsa` in this window: lower bound {float(nc['lower']):.3f}, "
                           f"upper bound {float(nc['upper']):.3f} (leave-one-subject-out)")
    assert text.count("of the upper bound") == 6
    result_cka = dict(result, metric="linear_cka")
    assert spacetime.ceiling_statement(result_cka, grid, rdms) == (
        "*A noise ceiling is defined here for RSA only, not for `linear_cka`.*")


def test_timing_table_reports_the_timing_share_and_an_item_random_p():
    rng = np.random.default_rng(0)
    dims = ("model", "subject", "sentence")
    plain = np.stack([np.full((4, 30), 0.2), np.zeros((4, 30))]) + 0.01 * rng.standard_normal((2, 4, 30))
    partial = np.stack([np.full((4, 30), 0.05), np.zeros((4, 30))]) + 0.05 * rng.standard_normal((2, 4, 30))
    scores = xr.Dataset({"plain": (dims, plain), "partial": (dims, partial)}, coords={"model": ["a", "b"]})
    table = spacetime.timing_table(scores, n_permutations=500)
    assert table.loc["a", "timing share"] == pytest.approx(1 - partial[0].mean() / plain[0].mean())
    assert table.loc["a", "p (partial)"] < 0.01 and table.loc["b", "p (partial)"] > 0.05
    text = spacetime.timing_statement(table, window_label="250–500 ms")
    assert f"`a` {plain[0].mean():.3f} → {partial[0].mean():.3f}" in text and "of it timing (significant" in text and "(not significant" in text


def test_control_statement_says_what_the_random_weight_controls_must_show():
    table = pd.DataFrame({"n_metrics_significant": [3, 0, 0]}, index=["oracle", "tiny-whisper", "tiny-text"])
    assert rankings.control_statement(table) == (
        "The 2 random-weight controls (`tiny-whisper`, `tiny-text`) must not align under any metric: "
        "**none does**, as required.")
    failed = table.assign(n_metrics_significant=[3, 1, 0])
    assert rankings.control_statement(failed).startswith(
        "The 2 random-weight controls (`tiny-whisper`, `tiny-text`) must not align under any metric: "
        "**`tiny-whisper` does**, which the test should not allow")
    assert rankings.control_statement(table.loc[["oracle"]]) == "*No random-weight control model is in this run.*"
    # a released architecture with random weights is a control too, whatever its key's prefix
    with_random = pd.concat([table, pd.DataFrame({"n_metrics_significant": [0]}, index=["whisper-tiny.en-random"])])
    assert "The 3 random-weight controls (`tiny-whisper`, `tiny-text`, `whisper-tiny.en-random`)" in \
        rankings.control_statement(with_random)


def test_dissociation_reads_per_sentence_scores_from_the_sentence_grid_and_peaks_from_the_grid():
    # the grid's per-sentence excess carries a dissociation; the sentence grid (the within-sentence
    # null's) carries none: the contrast must follow the sentence grid, the peak layer the grid
    rng = np.random.default_rng(3)
    n_sent, metrics = 40, ["geo", "cov"]
    negative = np.arange(n_sent) % 2 == 0
    dims = ("model", "layer", "subject", "window", "region", "metric", "sentence")
    sent = rng.standard_normal((1, 2, 3, 1, 1, 2, n_sent))
    planted = sent.copy()
    planted[..., 1, negative] += 2.0  # covariance metric higher on negative sentences
    planted[..., 0, negative] -= 2.0
    coords = {"model": ["m"], "layer": ["l0", "l1"], "subject": ["a", "b", "c"], "window": ["w"], "region": ["all"],
              "metric": metrics, "sentence": [f"s{j:02d}" for j in range(n_sent)],
              "n_words": ("sentence", np.full(n_sent, 10)), "family": ("metric", ["geometric", "covariance"]),
              "relative_depth": (("model", "layer"), [[0.0, 1.0]]),
              "component": (("model", "layer"), [["decoder", "decoder"]])}
    grid = xr.Dataset({"sentence_excess": (dims, planted), "excess": (dims[:-1], planted.mean(-1))}, coords=coords)
    grid["excess"].loc[dict(layer="l1")] += 5.0  # the peak layer
    within = grid.assign(sentence_excess=(dims, sent))
    labels = pd.DataFrame({"label": np.where(negative, "negative", "non-negative")}, index=coords["sentence"])
    kwargs = dict(metrics=metrics, peak_metric="geo", target_window="w", n_permutations=500)
    on_grid = affect.dissociation(grid, labels, **kwargs)
    on_within = affect.dissociation(grid, labels, sentence_grid=within, **kwargs)
    assert on_grid["numbers"]["p_interaction_all"] < 0.01
    assert on_within["numbers"]["p_interaction_all"] > 0.01
    expected = within["sentence_excess"].sel(model="m", layer="l1", window="w", region="all").mean("subject")
    np.testing.assert_allclose(on_within["per_sentence"].sel(model="m").values, expected.values)
