"""The statistics behind the claims' verdicts: Holm's adjustment by hand, the smallest
detectable effect against scipy's noncentral t, the verdict words and the families."""

import math

import numpy as np
import pytest
import scipy.stats

from dmf_numpy.experiments.claims import (CONTRADICTED, FAMILIES, HOLDS, INCONCLUSIVE, family_of, holm,
                                          min_detectable_effect, paired_verdict, table1_claims, verdict_of)


def test_holm_by_hand():
    # sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> max(0.06, 0.04) = 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert holm([0.02]) == pytest.approx([0.02])  # a family of one is not adjusted
    adjusted = holm([0.01, math.nan, 0.02])  # an undefined test counts in m, and stays undefined
    assert adjusted[0] == pytest.approx(0.03) and math.isnan(adjusted[1]) and adjusted[2] == pytest.approx(0.04)


def test_holm_is_at_least_the_raw_p_keeps_its_order_and_can_fail():
    rng = np.random.default_rng(1)
    for _ in range(50):
        p = rng.uniform(0, 1, rng.integers(1, 12)) ** 3
        adjusted = holm(p)
        order = np.argsort(p)
        assert np.all(adjusted >= p) and np.all(adjusted <= 1) and np.all(np.diff(adjusted[order]) >= 0)
    # a raw p-value below 0.05 that the correction lifts above it: the test can fail
    assert holm([0.03, 0.04])[0] > 0.05
    with pytest.raises(ValueError, match="values in"):
        holm([0.5, 1.5])


@pytest.mark.parametrize("n, sd", [(3, 1.0), (5, 0.2), (10, 2.5)])
def test_the_smallest_detectable_effect_has_80_percent_power(n, sd):
    mde = min_detectable_effect(sd, n)
    assert mde == pytest.approx((scipy.stats.t.ppf(0.975, n - 1) + scipy.stats.t.ppf(0.8, n - 1)) * sd / math.sqrt(n))
    # the power of the two-sided paired t-test at that effect, from the noncentral t: about 80 %
    critical, nc = scipy.stats.t.ppf(0.975, n - 1), mde * math.sqrt(n) / sd
    power = scipy.stats.nct.sf(critical, n - 1, nc) + scipy.stats.nct.cdf(-critical, n - 1, nc)
    assert 0.75 < power < 0.85  # the approximation is a little optimistic at few seeds: 77 % at 3
    assert math.isnan(min_detectable_effect(sd, 1)) and math.isnan(min_detectable_effect(0.0, n))


def test_the_verdict_words():
    assert verdict_of(-1.0, 0.01) == HOLDS and verdict_of(1.0, 0.01) == CONTRADICTED
    assert verdict_of(-1.0, 0.2) == verdict_of(1.0, 0.2) == verdict_of(-1.0, math.nan) == INCONCLUSIVE
    assert INCONCLUSIVE == "not supported (inconclusive)"
    assert paired_verdict([1.0, 4.0, 2.0], [2.0, 2.0, 2.5])["verdict"] == INCONCLUSIVE  # straddles 0


def test_the_families_are_declared():
    assert set(FAMILIES) == {"headline", "other"}
    assert [family_of("test_error", "left+right", d) for d in (0.0, 0.3, 0.5, 0.7)] == \
        ["headline", "other", "other", "headline"]
    assert family_of("test_error", "right", 0.0) == family_of("convergence") == "other"


def runs_of(errors_dmf, errors_other, damages=(0.0, 0.7), same_training=False):
    runs = {}
    for seed, (e_dmf, e_other) in enumerate(zip(errors_dmf, errors_other)):
        for k, damage in enumerate(damages):
            dmf_loss = 0.5 + 0.01 * seed + (0 if same_training else 0.1 * k)
            for model, error, loss in (("dmf", e_dmf, dmf_loss), ("imf", e_other, 1.0), ("emf", e_other, 1.0)):
                runs[(model, damage, seed)] = [{"train_loss": loss, "test_error": {"left+right": error,
                                                                                   "right": error}}]
    return runs


def test_the_verdict_of_a_claim_rests_on_holms_adjustment_within_its_family():
    # DMF better by 1 +- a little: raw p about 0.03 with 3 seeds, four primary tests share it
    rows = table1_claims(runs_of([1.0, 2.0, 3.2], [2.0, 2.7, 4.6]), "p", (0.0, 0.7))
    primary = [r for r in rows if r["family"] == "headline"]
    assert len(primary) == 4 and all(r["p_value"] < 0.05 for r in primary)
    assert all(r["p_holm"] == pytest.approx(min(1, 4 * r["p_value"])) for r in primary)
    assert all(r["verdict"] == INCONCLUSIVE for r in primary)  # significant alone, not after Holm
    assert all(r["min_detectable_effect"] > 0 for r in primary)


def test_convergence_claims_of_the_same_trainings_are_one_row():
    runs = runs_of([1.0, 2.0, 3.2], [2.0, 2.7, 4.6], damages=(0.0, 0.3, 0.5, 0.7), same_training=True)
    convergence = [r for r in table1_claims(runs, "p", (0.0, 0.3, 0.5, 0.7)) if "converges" in r["claim"]]
    assert len(convergence) == 1 and "0%/30%/50%/70% damage, one training" in convergence[0]["claim"]
    runs = runs_of([1.0, 2.0, 3.2], [2.0, 2.7, 4.6], damages=(0.0, 0.3, 0.5, 0.7))
    assert sum("converges" in r["claim"] for r in table1_claims(runs, "p", (0.0, 0.3, 0.5, 0.7))) == 4
