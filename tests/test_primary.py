"""The primary design of the study: baselines matched to DMF's capacity, equal tuning on seeds
apart from the evaluation's, the claims and their families, convergence as speed."""

import csv
import dataclasses
import json
import math

import numpy as np
import pytest
import scipy.stats

from dmf_numpy.core.fusion import build_model
from dmf_numpy.experiments import primary, train_run
from dmf_numpy.experiments.capacity import TOLERANCE, matched_sizes, widened_sizes
from dmf_numpy.experiments.common import machine_record
from dmf_numpy.experiments.paper import PAPER_SIZES
from dmf_numpy.experiments.primary import (BASELINES, CANDIDATES, DAMAGES, EVALUATION_SEEDS, FAMILIES, PROTOCOLS,
                                           QUICK_EVALUATION_SEEDS, TUNING_SEEDS, arms, candidate_settings,
                                           convergence_threshold, epochs_to_reach, primary_claims, sign_test)

from helpers import SHARED_DATA


@pytest.mark.parametrize("model", ["imf", "emf"])
def test_each_matched_baseline_has_dmfs_parameter_count_within_two_percent(model):
    dmf = build_model({"model": "dmf", **PAPER_SIZES}).n_params
    matched = matched_sizes(model)
    n = build_model({"model": model, **matched["sizes"]}).n_params  # counted again, from the arrays
    assert n == matched["n_params"] and abs(n - dmf) <= TOLERANCE * dmf and matched["reference_n_params"] == dmf
    assert build_model({"model": model, **PAPER_SIZES}).n_params < 0.5 * dmf  # the gap it closes
    sizes = matched["sizes"]  # only hidden sizes grow: the inputs and the classes stay
    assert (sizes["x_dims"][0], sizes["y_dims"][0], sizes["n_classes"]) == (392, 392, 10)
    assert sizes["shared_dims"][0] > PAPER_SIZES["shared_dims"][0]
    assert arms()[f"{model}_matched"]["shared_dims"] == sizes["shared_dims"]


def test_widening_scales_every_hidden_size_by_one_factor():
    sizes = widened_sizes(PAPER_SIZES, 1.5)
    assert sizes["x_dims"] == (392, 768, 192) and sizes["shared_dims"] == (768, 384, 96)
    with pytest.raises(ValueError, match="no width factor"):
        matched_sizes("imf", tolerance=1e-9)


def test_the_tuning_and_evaluation_seeds_are_disjoint_and_recorded():
    assert not set(TUNING_SEEDS) & set(EVALUATION_SEEDS) and len(TUNING_SEEDS) >= 2 and len(EVALUATION_SEEDS) >= 10
    assert set(QUICK_EVALUATION_SEEDS) <= set(EVALUATION_SEEDS)


def test_the_candidates_separate_the_shift_from_the_schedule():
    settings = {name: candidate_settings(name) for name in CANDIDATES}
    assert settings["none"] == primary.SCALE
    assert settings["shift"] == {**primary.SCALE, "shift": 1}
    long = settings["long"]
    assert long["epochs"] == 2 * primary.SCALE["epochs"] and "shift" not in long
    # the same total learning-rate decay over the longer schedule (0.9 per epoch is the default)
    assert long["lr_decay"] ** long["epochs"] == pytest.approx(0.9 ** primary.SCALE["epochs"], rel=0.05)
    assert settings["shift_long"] == {**long, "shift": 1}


def history(val, test=None):
    """A history with these validation errors per epoch (both halves)."""
    test = test or val
    return [{"epoch": k + 1, "train_loss": 1.0 / (k + 1), "seconds": 1.0,
             "val_error": {"left+right": v, "right": 2 * v}, "test_error": {"left+right": t, "right": 2 * t}}
            for k, (v, t) in enumerate(zip(val, test))]


def test_epochs_to_reach_a_validation_error():
    assert epochs_to_reach(history([9.0, 5.0, 4.0]), 5.0) == 2
    assert epochs_to_reach(history([9.0, 6.0]), 5.0) == math.inf


def test_the_sign_test_by_hand():
    result = sign_test([1, 2, 2, 3, math.inf], [2, 3, 2, 4, 5])  # 3 faster, 1 slower (never reached), 1 tie
    assert (result["faster"], result["slower"], result["ties"]) == (3, 1, 1)
    assert result["p_value"] == pytest.approx(2 * (1 + 4) / 16)  # two-sided, 4 untied pairs
    assert result["p_value"] == pytest.approx(scipy.stats.binomtest(3, 4).pvalue)
    assert result["effect"] == -1.0  # the median of the differences where both reached
    assert sign_test([math.inf] * 2, [math.inf] * 2)["ties"] == 2  # neither reached: a tie


def synthetic_evaluation(dmf_better_by, seeds=tuple(range(10))):
    rng = np.random.default_rng(1)
    runs = {}
    for protocol in PROTOCOLS:
        for damage in DAMAGES:
            for seed in seeds:
                base = 5 + 10 * damage + rng.normal(0, 0.3)
                for arm in arms():
                    error = base + (-dmf_better_by if arm == "dmf" else 0.0) + rng.normal(0, 0.05)
                    height = 4 if arm == "dmf" else 8  # DMF's curve comes down sooner; each ends at its error
                    curve = [error + height / (k + 1) - height / 6 for k in range(6)]
                    runs[(protocol, arm, damage, seed)] = history(curve)
    return runs


def test_the_primary_claims_in_their_families():
    seeds = tuple(range(10))
    rows = primary_claims(synthetic_evaluation(0.5), threshold=7.0, seeds=seeds)
    count = {family: sum(r["family"] == family for r in rows) for family in FAMILIES}
    assert count == {"primary": 2 * len(BASELINES) * len(DAMAGES), "secondary": 2 * len(BASELINES) * len(DAMAGES),
                     "convergence": 2 * len(BASELINES)} == {"primary": 16, "secondary": 16, "convergence": 8}
    assert {r["verdict"] for r in rows if r["family"] == "primary"} == {"holds"}
    assert all(r["p_holm"] >= r["p_value"] and r["n_seeds"] == 10 for r in rows)
    convergence = [r for r in rows if r["family"] == "convergence"]
    assert {r["verdict"] for r in convergence} == {"holds"} and all(r["effect"] < 0 for r in convergence)
    worse = primary_claims(synthetic_evaluation(-0.5), threshold=7.0, seeds=seeds)
    assert {r["verdict"] for r in worse if r["family"] == "primary"} == {"contradicted"}
    # Holm's correction runs over all 16 primary tests: the smallest adjusted p is 16 times the raw one
    smallest = min((r for r in rows if r["family"] == "primary"), key=lambda r: r["p_value"])
    assert smallest["p_holm"] == pytest.approx(min(1.0, 16 * smallest["p_value"]))


def test_the_convergence_threshold_comes_from_the_tuning_runs_of_imf():
    runs = {("imf", "none", seed): history([9.0, 4.0 + seed - TUNING_SEEDS[0]]) for seed in TUNING_SEEDS}
    assert convergence_threshold(runs) == pytest.approx(np.mean([4.0 + s - TUNING_SEEDS[0] for s in TUNING_SEEDS]))


def test_the_machine_record_names_what_a_bit_for_bit_rerun_needs():
    record = machine_record(threads=3)
    assert record["numpy"] == np.__version__ and record["blas"]["threads"] == 3 and record["cpu"]
    assert set(record["blas"]) == {"library", "version", "kernel", "threads"}
    json.dumps(record)  # goes into config.json


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="needs MNIST under DMF_NUMPY_DATA")
def test_the_tuning_never_reads_a_test_number(tmp_path, monkeypatch):
    """Poison the test split (labels shuffled, images noise): the choice and every validation
    score stay, while the test errors the runs record change."""
    two = {arm: arms()[arm] for arm in ("dmf", "imf")}
    monkeypatch.setattr(primary, "arms", lambda: two)
    clean = primary.run_tuning(tmp_path / "clean", quick=True, data_dir=SHARED_DATA, log=lambda line: None)
    load = train_run.load_data

    def poisoned(config, data_dir=None):
        data = load(config, data_dir)
        x, y, labels = data.test
        rng = np.random.default_rng(0)
        return dataclasses.replace(data, test=(rng.uniform(size=x.shape).astype(x.dtype),
                                               rng.uniform(size=y.shape).astype(y.dtype), rng.permutation(labels)))

    monkeypatch.setattr(train_run, "load_data", poisoned)
    dirty = primary.run_tuning(tmp_path / "dirty", quick=True, data_dir=SHARED_DATA, log=lambda line: None)
    assert clean[0] == dirty[0] and clean[1] == dirty[1]  # the choice and the validation scores
    assert any(clean[2][k][-1]["test_error"] != dirty[2][k][-1]["test_error"] for k in clean[2])
    rows = list(csv.DictReader(open(tmp_path / "dirty" / "tuning.csv")))
    assert all("test" not in column for column in rows[0])
    assert (tmp_path / "clean" / "tuning.csv").read_text() == (tmp_path / "dirty" / "tuning.csv").read_text()


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="needs MNIST under DMF_NUMPY_DATA")
def test_capacity_matched_baselines_from_the_command_line(tmp_path, capsys):
    """`train --capacity-matched` and `table1 --capacity-matched` widen IMF and EMF to DMF's
    parameter count; DMF, the reference, keeps its sizes."""
    from dmf_numpy.cli import main

    dmf = build_model({"model": "dmf", **PAPER_SIZES}).n_params
    data = ["--data-dir", str(SHARED_DATA), "--subset", "200", "--epochs", "1"]
    assert main(["train", "--model", "imf", "--capacity-matched", *data, "--out", str(tmp_path / "imf")]) == 0
    config = json.loads((tmp_path / "imf" / "config.json").read_text())
    assert abs(build_model(config).n_params - dmf) <= TOLERANCE * dmf
    assert main(["train", "--model", "dmf", "--capacity-matched", *data, "--out", str(tmp_path / "dmf")]) == 2
    assert "DMF is the reference" in capsys.readouterr().err
    out = tmp_path / "table"
    assert main(["table1", "--quick", "--seeds", "1", "--compare", "none", "--capacity-matched", *data,
                 "--out", str(out)]) == 0
    table = json.loads((out / "config.json").read_text())["train_config"]
    for model in ("emf", "imf", "dmf"):
        run = json.loads((out / "runs" / f"{model}_damage0.00_seed0" / "config.json").read_text())
        assert run["shared_dims"] == table["capacity_matched"][model]["shared_dims"]
        assert abs(build_model(run).n_params - dmf) <= TOLERANCE * dmf
    assert table["capacity_matched"]["dmf"]["shared_dims"] == list(PAPER_SIZES["shared_dims"])
    # a plain table into the matched folder is refused, not mixed with it
    assert main(["table1", "--quick", "--seeds", "1", "--compare", "none", *data, "--out", str(out)]) == 2
