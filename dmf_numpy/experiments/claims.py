r"""The claims of Table 1 and Fig. 4, and a verdict on each from paired runs over seeds.

A claim compares DMF with another model under one protocol. Each seed trains both models on
the same split, damage masks and shuffling, so their errors are *paired*: the verdict rests on
the per-seed differences d_i = e^DMF_i - e^other_i (negative: DMF better).

- ``effect``: the mean difference d̄;
- ``ci_low``, ``ci_high``: its 95 % confidence interval, d̄ ± t_{0.975, n-1} s_d/√n;
- ``p_value``: the two-sided paired t-test (:func:`scipy.stats.ttest_rel`);
- ``verdict``: *holds* when the interval lies below 0 (DMF better), *does not hold* when it lies
  above 0 (DMF worse), *inconclusive* when it contains 0 or cannot be computed (one seed, or
  differences that are all equal).

The claims (Table 1, Sec. 3.1): DMF has a lower test error than IMF, and than EMF, in every
column (0, 30, 50, 70 % damage) for both inputs (left+right, and the right half alone). Fig. 4:
DMF converges faster, read as a lower training loss along the way: per seed, the mean over
the epochs of log_10 of DMF's training loss minus IMF's.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.stats

from ..core.errors import UserError

#: The columns of ``claims.csv``.
COLUMNS = ("claim", "protocol", "verdict", "effect", "ci_low", "ci_high", "p_value", "n_seeds")


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
        ``effect``, ``ci_low``, ``ci_high``, ``p_value`` (NaN where undefined), ``verdict``,
        ``n_seeds``.
    """
    dmf, other = np.asarray(dmf, dtype=float), np.asarray(other, dtype=float)
    if dmf.shape != other.shape or dmf.ndim != 1 or dmf.size == 0:
        raise UserError(f"dmf and other: expected one value per seed each, got shapes {dmf.shape} and {other.shape}")
    d = dmf - other
    n, effect = d.size, float(d.mean())
    low = high = p = math.nan
    if n > 1 and np.ptp(d) > 0:
        half = scipy.stats.t.ppf(0.5 + confidence / 2, n - 1) * d.std(ddof=1) / math.sqrt(n)
        low, high = effect - half, effect + half
        p = float(scipy.stats.ttest_rel(dmf, other).pvalue)
    verdict = "holds" if high < 0 else "does not hold" if low > 0 else "inconclusive"
    return {"effect": effect, "ci_low": low, "ci_high": high, "p_value": p, "verdict": verdict, "n_seeds": n}


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
        One row per claim, with the keys :data:`COLUMNS`.
    """
    seeds = sorted({seed for (_, _, seed) in runs})
    rows = []
    for condition in conditions:
        for damage in damages:
            for other in ("imf", "emf"):
                final = {m: [runs[(m, damage, s)][-1]["test_error"][condition] for s in seeds] for m in ("dmf", other)}
                claim = f"DMF < {other.upper()}, {condition}, {damage:.0%} damage (test error)"
                rows.append({"claim": claim, "protocol": protocol, **paired_verdict(final["dmf"], final[other])})
    for damage in damages:
        gaps = [log_loss_gap(runs[("dmf", damage, s)], runs[("imf", damage, s)]) for s in seeds]
        verdict = paired_verdict(gaps, np.zeros(len(gaps)))
        rows.append({"claim": f"DMF converges faster than IMF, {damage:.0%} damage (mean log10 training-loss gap)",
                     "protocol": protocol, **verdict})
    return [{k: row[k] for k in COLUMNS} for row in rows]


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
        0, else "no clear change".
    """
    seeds = sorted({s for (_, _, s) in base} & {s for (_, _, s) in other})
    rows = []
    for condition in conditions:
        for model in models:
            for damage in damages:
                errors = [[runs[(model, damage, s)][-1]["test_error"][condition] for s in seeds]
                          for runs in (other, base)]
                verdict = paired_verdict(*errors)
                change = {"holds": "lower", "does not hold": "higher"}.get(verdict.pop("verdict"), "no clear change")
                rows.append({"condition": condition, "model": model, "damage": damage,
                             "other_mean": float(np.mean(errors[0])), "base_mean": float(np.mean(errors[1])),
                             **verdict, "change": change})
    return [{k: row[k] for k in EFFECT_COLUMNS} for row in rows]
