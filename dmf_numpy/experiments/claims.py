r"""The paper's claims, and a verdict on each from paired runs over seeds.

A claim compares DMF with another model under one protocol. Each seed trains both models on
the same split, damage masks and shuffling, so their errors are *paired*: the verdict rests on
the per-seed differences d_i = e^DMF_i - e^other_i (negative: DMF better).

- ``effect``: the mean difference d̄;
- ``ci_low``, ``ci_high``: its 95 % confidence interval, d̄ ± t_{0.975, n-1} s_d/√n;
- ``p_value``: the two-sided paired t-test (:func:`scipy.stats.ttest_rel`);
- ``family`` and ``p_holm``: the claims are split into the families of :data:`FAMILIES`, declared
  before the verdicts, and each p-value is adjusted by Holm's procedure (:func:`holm`) within its
  family and protocol;
- ``verdict``: *holds* when the Holm-adjusted p-value is below 0.05 and DMF is better,
  *contradicted* when it is below 0.05 and DMF is worse, *not supported (inconclusive)* otherwise
  (an interval that straddles 0, a correction that leaves the claim above 0.05, one seed, or
  differences that are all equal). An adjusted p below 0.05 implies a raw one below 0.05, that
  is a 95 % interval that excludes 0;
- ``min_detectable_effect``: the smallest |effect| the cell could detect with 80 % power at its
  seed count and observed spread, (t_{0.975, n-1} + t_{0.8, n-1}) s_d/√n (two-sided 5 %, no
  multiplicity correction: with Holm's it is larger).

The claims of Table 1 (Sec. 3.1, :func:`table1_claims`): DMF has a lower test error than IMF,
and than EMF, in every column (0, 30, 50, 70 % damage) for both inputs (left+right, and the
right half alone). Fig. 4: DMF converges faster, read here as a lower training loss along the
way: per seed, the mean over the epochs of log_10 of DMF's training loss minus IMF's (the
primary design, :mod:`~dmf_numpy.experiments.primary`, measures speed as epochs to a fixed
validation error). Tables 2 and 3 (:func:`score_claims`): DMF scores higher (an accuracy, a
mAP) than the others, the effect then being DMF's score minus the other's.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..core.errors import UserError
from ..files import write_csv, write_text

#: The columns of ``claims.csv``.
COLUMNS = ("claim", "protocol", "family", "verdict", "effect", "ci_low", "ci_high", "p_value", "p_holm",
           "min_detectable_effect", "n_seeds")

#: The verdicts, from the Holm-adjusted p-value (:data:`ALPHA`) and the sign of the effect.
HOLDS, INCONCLUSIVE, CONTRADICTED = "holds", "not supported (inconclusive)", "contradicted"
VERDICTS = (HOLDS, INCONCLUSIVE, CONTRADICTED)
#: The level of every test, after Holm's correction within a family.
ALPHA = 0.05
#: The damage levels of the headline family.
HEADLINE_DAMAGES = (0.0, 0.7)
#: The families of the grid of protocols (:mod:`~dmf_numpy.experiments.study`), declared before
#: any verdict: Holm's correction runs within each family of each protocol (:func:`family_of`).
#: Headline: DMF against each baseline with both halves at 0 and 70 % damage (4 tests per
#: protocol). Other: the rest. The grid explores; the claims that decide are the primary
#: design's (:data:`dmf_numpy.experiments.primary.FAMILIES`), with 10 seeds and matched baselines.
FAMILIES = {
    "headline": "DMF < IMF and DMF < EMF, left+right, at 0 and 70 % damage (test error)",
    "other": "the right half alone at every damage level, left+right at 30 and 50 %, and Fig. 4's "
             "convergence (mean log10 training-loss gap)",
}


def family_of(kind, condition=None, damage=None):
    """The family (a key of :data:`FAMILIES`) of a claim: ``kind`` is ``"test_error"`` or
    ``"convergence"``."""
    if kind == "test_error" and condition == "left+right" and any(
            math.isclose(damage, d) for d in HEADLINE_DAMAGES):
        return "headline"
    return "other"


def holm(p_values):
    """Holm's step-down adjustment of p-values for one family.

    With the m p-values sorted, p_(1) <= ... <= p_(m), the adjusted p_(i) is
    max_{j <= i} min(1, (m - j + 1) p_(j)); it is returned in the input order. A NaN p-value (a
    test that could not be computed) counts in m as a p-value of 1 and stays NaN.

    Parameters
    ----------
    p_values : sequence of float

    Returns
    -------
    numpy.ndarray
        The adjusted p-values, each at least its raw p-value, at most 1, and in the same order
        as the raw ones.
    """
    p = np.asarray(p_values, dtype=float)
    if p.ndim != 1:
        raise UserError(f"p_values: expected a sequence, got shape {p.shape}")
    if np.any((p < 0) | (p > 1)):
        raise UserError(f"p_values: expected values in [0, 1], got {p.tolist()}")
    m, filled = p.size, np.where(np.isnan(p), 1.0, p)
    order = np.argsort(filled, kind="stable")
    stepped = np.minimum(1.0, (m - np.arange(m)) * filled[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(stepped)
    adjusted[np.isnan(p)] = math.nan
    return adjusted


def verdict_of(effect, p_value, alpha=ALPHA):
    """The verdict (:data:`VERDICTS`) of ``dmf < other`` from a (Holm-adjusted) p-value."""
    if not math.isnan(p_value) and p_value < alpha:
        return HOLDS if effect < 0 else CONTRADICTED
    return INCONCLUSIVE


def min_detectable_effect(sd, n, alpha=ALPHA, power=0.8):
    """The smallest mean paired difference a two-sided paired t-test at level ``alpha`` detects
    with probability ``power``, for ``n`` seeds of spread ``sd`` (the usual approximation
    (t_{1-alpha/2, n-1} + t_{power, n-1}) sd/√n, a little optimistic at few seeds: the exact power
    from the noncentral t is 77 % at 3 seeds, 79 % at 5); NaN below 2 seeds or without spread."""
    if n < 2 or not sd > 0:
        return math.nan
    from scipy.stats import t  # here, not at the top: see paired_verdict
    return float((t.ppf(1 - alpha / 2, n - 1) + t.ppf(power, n - 1)) * sd / math.sqrt(n))


def paired_verdict(dmf, other, confidence=0.95):
    """Effect, confidence interval, p-value and verdict of ``dmf < other`` from paired values.

    Parameters
    ----------
    dmf, other : sequence of float
        One value per seed, in the same seed order.
    confidence : float

    Returns
    -------
    dict
        ``effect``, ``ci_low``, ``ci_high``, ``p_value`` (NaN where undefined), ``verdict``
        (:func:`verdict_of` the raw p-value; :func:`table1_claims` replaces it with Holm's),
        ``min_detectable_effect``, ``n_seeds``.
    """
    # scipy.stats takes 0.4 s to import; the command line reads this module's constants on every start
    import scipy.stats

    dmf, other = np.asarray(dmf, dtype=float), np.asarray(other, dtype=float)
    if dmf.shape != other.shape or dmf.ndim != 1 or dmf.size == 0:
        raise UserError(f"dmf and other: expected one value per seed each, got shapes {dmf.shape} and {other.shape}")
    d = dmf - other
    n, effect = d.size, float(d.mean())
    low = high = p = mde = math.nan
    # a spread at rounding level (differences of percentages that are equal but for the last bit)
    # is no spread: a t-test on it is noise
    if n > 1 and np.ptp(d) > 1e-9 * max(1.0, float(np.abs(d).max())):
        half = scipy.stats.t.ppf(0.5 + confidence / 2, n - 1) * d.std(ddof=1) / math.sqrt(n)
        low, high = effect - half, effect + half
        p = float(scipy.stats.ttest_rel(dmf, other).pvalue)
        mde = min_detectable_effect(d.std(ddof=1), n)
    return {"effect": effect, "ci_low": low, "ci_high": high, "p_value": p, "verdict": verdict_of(effect, p),
            "min_detectable_effect": mde, "n_seeds": n}


def format_p(p):
    """A p-value with two significant digits (0.0044, 3.1e-06; never 0.0), "-" where undefined."""
    return "-" if math.isnan(p) else f"{p:.2g}"


def csv_value(value, column=None):
    """A value for a CSV: p-values (the columns ``p_value``, ``p_holm``) with three significant
    digits (never 0.0), other finite floats to 4 decimals, the rest as it is."""
    if not (isinstance(value, float) and math.isfinite(value)):
        return value
    return float(f"{value:.3g}") if column in ("p_value", "p_holm") else round(value, 4)


def log_loss_gap(dmf_history, imf_history):
    """Fig. 4's claim for one seed: the mean over the epochs of log10 of DMF's training loss minus
    IMF's (negative: DMF's loss is lower along the way)."""
    dmf = np.log10([r["train_loss"] for r in dmf_history])
    imf = np.log10([r["train_loss"] for r in imf_history])
    if dmf.shape != imf.shape:
        raise UserError(f"histories of {dmf.size} and {imf.size} epochs: compare runs of the same schedule")
    return float(np.mean(dmf - imf))


def table1_claims(runs, protocol, damages, conditions=("left+right", "right")):
    """Every claim of Table 1 and Fig. 4 for one protocol.

    Parameters
    ----------
    runs : dict
        ``runs[(model, damage, seed)]`` is a run's history (a list of epoch records with
        ``train_loss`` and ``test_error`` by condition), for models ``"emf"``, ``"imf"``,
        ``"dmf"``.
    protocol : str
    damages : sequence of float
    conditions : sequence of str

    Returns
    -------
    list of dict
        One row per claim, with the keys :data:`COLUMNS`; the verdicts rest on Holm's adjustment
        (:func:`holm`) within each family (:data:`FAMILIES`) of the protocol. Convergence claims
        whose per-seed gaps repeat those of another damage level (the same trainings, as when only
        the test images are damaged) are one result, and one row: its claim names every level.
    """
    seeds = sorted({seed for (_, _, seed) in runs})
    rows = []
    for condition in conditions:
        for damage in damages:
            for other in ("imf", "emf"):
                final = {m: [runs[(m, damage, s)][-1]["test_error"][condition] for s in seeds] for m in ("dmf", other)}
                claim = f"DMF < {other.upper()}, {condition}, {damage:.0%} damage (test error)"
                rows.append({"claim": claim, "protocol": protocol, "family": family_of("test_error", condition, damage),
                             **paired_verdict(final["dmf"], final[other])})
    convergence = {}  # the per-seed gaps -> the damage levels that gave them
    for damage in damages:
        gaps = tuple(log_loss_gap(runs[("dmf", damage, s)], runs[("imf", damage, s)]) for s in seeds)
        convergence.setdefault(gaps, []).append(damage)
    for gaps, levels in convergence.items():
        where = "/".join(f"{d:.0%}" for d in levels) + " damage" + (", one training" if len(levels) > 1 else "")
        rows.append({"claim": f"DMF converges faster than IMF, {where} (mean log10 training-loss gap)",
                     "protocol": protocol, "family": family_of("convergence"),
                     **paired_verdict(gaps, np.zeros(len(gaps)))})
    holm_verdicts(rows)
    return [{k: row[k] for k in COLUMNS} for row in rows]


def holm_verdicts(rows):
    """Adjust the ``p_value`` of ``rows`` by Holm's procedure within each ``family`` (in place:
    ``p_holm``) and give each row the verdict that rests on it (:func:`verdict_of` of the row's
    ``direction``, negative when DMF is better, else of its ``effect``)."""
    for family in dict.fromkeys(row["family"] for row in rows):
        members = [row for row in rows if row["family"] == family]
        for row, adjusted in zip(members, holm([row["p_value"] for row in members])):
            row["p_holm"] = float(adjusted)
            row["verdict"] = verdict_of(row.get("direction", row["effect"]), row["p_holm"])
    return rows


#: The columns of :func:`score_claims`'s rows.
SCORE_COLUMNS = ("claim", "family", "verdict", "dmf_mean", "other_mean", "effect", "ci_low", "ci_high", "p_value",
                 "p_holm", "min_detectable_effect", "n_seeds")


def score_claims(per_seed, comparisons, family):
    """Claims that DMF scores *higher* than others (an accuracy, a mAP), paired over seeds.

    Parameters
    ----------
    per_seed : list of dict
        One ``{method: {condition: score}}`` per seed, with the method ``"DMF"``.
    comparisons : sequence of ``(other, condition)``
        ``other`` names a method of ``per_seed``, or is a pair ``(name, number)``: a fixed
        reference, such as a figure of the paper, compared with each seed's DMF.
    family : str
        Holm's correction runs over these claims together.

    Returns
    -------
    list of dict
        One row per comparison with the keys :data:`SCORE_COLUMNS`: ``effect`` is DMF's mean
        score minus the other's (positive: DMF better), with its 95 % interval and the paired
        t-test's p-value; the verdict rests on the Holm-adjusted p-value.
    """
    rows = []
    for other, condition in comparisons:
        dmf = [seed["DMF"][condition] for seed in per_seed]
        if isinstance(other, str):
            name, others = other, [seed[other][condition] for seed in per_seed]
        else:
            name, value = other
            name, others = f"{name} ({value:g})", [float(value)] * len(dmf)
        verdict = paired_verdict(dmf, others)
        rows.append({"claim": f"DMF > {name}, {condition}", "family": family, **verdict,
                     "direction": -verdict["effect"], "dmf_mean": float(np.mean(dmf)),
                     "other_mean": float(np.mean(others))})
    holm_verdicts(rows)
    return [{k: row[k] for k in SCORE_COLUMNS} for row in rows]


def write_score_claims(out_dir, rows, title):
    """Write rows of :func:`score_claims` into ``out_dir`` as ``claims.csv`` and ``claims.md``
    (:func:`score_claims_markdown`)."""
    write_csv(Path(out_dir) / "claims.csv", [{k: csv_value(v, k) for k, v in row.items()} for row in rows])
    write_text(Path(out_dir) / "claims.md", score_claims_markdown(rows, title))


def score_claims_markdown(rows, title):
    """Rows of :func:`score_claims` as a Markdown table under ``title``, which the rule of the
    verdicts follows."""
    title += (" The verdict rests on the adjusted p-value: *holds* (below 0.05, DMF better), *contradicted* "
              "(below 0.05, DMF worse), else *not supported (inconclusive)*.")
    lines = [title, "", "| claim | family | DMF | other | effect | 95 % interval | p | p (Holm) | detectable | verdict |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        interval = "-" if math.isnan(r["ci_low"]) else f"[{r['ci_low']:+.4g}, {r['ci_high']:+.4g}]"
        mde = "-" if math.isnan(r["min_detectable_effect"]) else f"{r['min_detectable_effect']:.4g}"
        lines.append(f"| {r['claim']} | {r['family']} | {r['dmf_mean']:.4g} | {r['other_mean']:.4g} | "
                     f"{r['effect']:+.4g} | {interval} | {format_p(r['p_value'])} | {format_p(r['p_holm'])} | {mde} | "
                     f"{r['verdict']} |")
    return "\n".join(lines) + "\n"


#: The columns of :func:`protocol_effects`'s rows.
EFFECT_COLUMNS = ("condition", "model", "damage", "other_mean", "base_mean", "effect", "ci_low", "ci_high",
                  "p_value", "n_seeds", "change")


def protocol_effects(base, other, damages, conditions=("left+right", "right", "left"),
                     models=("emf", "imf", "dmf")):
    """What a protocol changes against another: the final test error of each model, damage level
    and test input under both, paired over the seeds they share.

    Parameters
    ----------
    base, other : dict
        Runs of two protocols, as in :func:`table1_claims`; a seed fixes the same split, damage
        masks and initialization in both, so the errors pair.
    damages, conditions, models : sequences

    Returns
    -------
    list of dict
        One row per (condition, model, damage) with the keys :data:`EFFECT_COLUMNS`: the mean
        errors, the effect ``other - base`` with its 95 % interval and paired t-test p-value
        (:func:`paired_verdict`), and ``change``: "lower" or "higher" when the interval excludes
        0, else "no clear change" (each cell on its own, with no correction for multiplicity).
    """
    seeds = sorted({s for (_, _, s) in base} & {s for (_, _, s) in other})
    rows = []
    for condition in conditions:
        for model in models:
            for damage in damages:
                errors = [[runs[(model, damage, s)][-1]["test_error"][condition] for s in seeds]
                          for runs in (other, base)]
                verdict = paired_verdict(*errors)
                change = {HOLDS: "lower", CONTRADICTED: "higher"}.get(verdict.pop("verdict"), "no clear change")
                rows.append({"condition": condition, "model": model, "damage": damage,
                             "other_mean": float(np.mean(errors[0])), "base_mean": float(np.mean(errors[1])),
                             **verdict, "change": change})
    return [{k: row[k] for k in EFFECT_COLUMNS} for row in rows]
