"""The study of the paper's claims: paired verdicts computed by hand, the claims of Table 1 and
Fig. 4 from runs, and `dmf-numpy study --quick` end to end."""

import csv
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from dmf_numpy.cli import main
from dmf_numpy.experiments.claims import (COLUMNS, EFFECT_COLUMNS, VERDICTS, log_loss_gap, paired_verdict,
                                          protocol_effects, table1_claims)
from dmf_numpy.experiments.primary import FAMILIES as PRIMARY_FAMILIES
from dmf_numpy.experiments.primary import arms
from dmf_numpy.experiments.study import (GRID, PROTOCOLS, QUICK, TUNING, cell_work, claims_markdown, effects_markdown,
                                         format_p, protocol_name, study_eta)
from dmf_numpy.experiments.table1 import DAMAGES, TABLE_CONDITIONS, run_table1, table1_markdown, table1_rows

from helpers import SHARED_DATA


def test_a_paired_verdict_by_hand():
    dmf, other = [1.0, 2.0, 3.0], [2.0, 3.5, 4.0]
    d = np.array([-1.0, -1.5, -1.0])
    half = 4.302652729911275 * d.std(ddof=1) / math.sqrt(3)  # t_{0.975, 2}
    result = paired_verdict(dmf, other)
    assert result["effect"] == pytest.approx(d.mean())
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((d.mean() - half, d.mean() + half))
    assert result["p_value"] == pytest.approx(scipy.stats.ttest_rel(dmf, other).pvalue)
    assert result["verdict"] == "holds" and result["n_seeds"] == 3


@pytest.mark.parametrize("dmf, other, verdict", [
    ([3.0, 4.0, 5.0], [1.0, 2.1, 3.0], "contradicted"),   # DMF worse on every seed, consistently
    ([1.0, 4.0, 2.0], [2.0, 2.0, 2.5], "not supported (inconclusive)"),   # the interval contains 0
    ([1.0], [2.0], "not supported (inconclusive)"),                       # one seed: no interval
    ([1.0, 2.0], [2.0, 3.0], "not supported (inconclusive)"),             # equal differences: no spread
    ([75.1, 80.3, 64.9], [75.0, 80.2, 64.8], "not supported (inconclusive)"),  # equal but for rounding
])
def test_verdicts(dmf, other, verdict):
    assert paired_verdict(dmf, other)["verdict"] == verdict


def test_paired_values_must_pair():
    with pytest.raises(ValueError, match="one value per seed each"):
        paired_verdict([1.0, 2.0], [1.0])


def test_the_log_loss_gap_of_fig_4():
    assert log_loss_gap([{"train_loss": 1.0}, {"train_loss": 0.01}], [{"train_loss": 10.0}, {"train_loss": 0.1}]) \
        == pytest.approx(-1.0)


def synthetic_runs(dmf_better_by, seeds=5):
    rng = np.random.default_rng(0)
    runs = {}
    for seed in range(seeds):
        for damage in (0.0, 0.3, 0.5, 0.7):
            base = 2 + 10 * damage + rng.normal(0, 0.1)
            for model, shift in (("emf", 0.3), ("imf", 0.2), ("dmf", 0.2 - dmf_better_by)):
                error = base + shift + rng.normal(0, 0.01)
                losses = [1.0 / (e + 1) * (1 - dmf_better_by if model == "dmf" else 1) * rng.uniform(0.95, 1.05)
                          for e in range(3)]
                runs[(model, damage, seed)] = [{"train_loss": loss, "test_error": {"left+right": error,
                                                                                    "right": 5 * error}}
                                               for loss in losses]
    return runs


def test_table1_claims_from_runs():
    rows = table1_claims(synthetic_runs(0.5), "p", (0.0, 0.3, 0.5, 0.7))
    assert len(rows) == 2 * 4 * 2 + 4 and all(tuple(r) == COLUMNS for r in rows)
    assert {r["verdict"] for r in rows} == {"holds"} and all(r["n_seeds"] == 5 for r in rows)
    worse = table1_claims(synthetic_runs(-0.5), "p", (0.0, 0.3, 0.5, 0.7))
    assert {r["verdict"] for r in worse if "IMF" in r["claim"]} == {"contradicted"}
    assert {r["family"] for r in rows} == {"headline", "other"} and all(r["p_holm"] >= r["p_value"] for r in rows)


def test_p_values_are_written_with_significant_digits():
    assert [format_p(p) for p in (0.0044, 3.14e-06, 0.35, math.nan)] == ["0.0044", "3.1e-06", "0.35", "-"]
    rows = table1_claims(synthetic_runs(0.5), "p", (0.0, 0.3, 0.5, 0.7))
    text = claims_markdown(rows)
    assert "| p | 0 |" not in text and " 0.000 " not in text and "| p (Holm) |" in text and "| detectable |" in text


def test_the_grid_is_declared():
    assert {p for p, _ in GRID} == set(PROTOCOLS) and protocol_name("paper", "full") == GRID[0][0] + "@full"


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "mnist").is_dir(), reason="needs MNIST under DMF_NUMPY_DATA")
def test_study_quick_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("DMF_NUMPY_DATA", str(SHARED_DATA))
    out = tmp_path / "study"
    assert main(["study", "--quick", "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(out / "claims.csv")))
    # 4 test-error claims and one convergence claim per damage level of each cell; the trainings of
    # test_damage are the same at every level: one convergence claim
    assert tuple(rows[0]) == COLUMNS and len(rows) == sum((4 + (p != "test_damage")) * len(QUICK["damages"])
                                                          + (p == "test_damage") for p, s in GRID)
    assert {r["verdict"] for r in rows} <= set(VERDICTS) and all(r["p_value"] != "0.0" for r in rows)
    header = open(out / "paper@full" / "table1.csv").readline()
    assert open(out / "best_table1.csv").readline() == header  # in table1.csv's format
    choice = json.loads((out / "choice.json").read_text())
    assert choice["chosen"] in choice["validation"] and "the test set chose nothing" in choice["rule"]
    assert (out / "claims.png").read_bytes()[:4] == b"\x89PNG"
    summary = (out / "claims.md").read_text()
    # the effects of every protocol side by side (one row per claim), then each protocol's verdicts
    assert "| paper@full (n=2) |" in summary and summary.count("| DMF < IMF, left+right, 0% damage") == len(GRID) + 1
    output = capsys.readouterr().out.splitlines()
    progress = [line for line in output if line.startswith("[study]")]
    assert any(f"{len(GRID)}/{len(GRID)} protocols done" in line for line in progress)
    tuning = list(csv.DictReader(open(out / "tuning" / "tuning.csv")))
    assert [r["candidate"] for r in tuning] == list(TUNING) and all("test" not in key for key in tuning[0])
    chosen = json.loads((out / "tuning" / "tuning.json").read_text())
    assert chosen["chosen"] == min(tuning, key=lambda r: float(r["val_error_left_right"]))["candidate"]
    assert choice["tuned"] == TUNING[chosen["chosen"]]
    regularized = json.loads((out / "regularized@headline" / "config.json").read_text())["train_config"]
    assert all(regularized[k] == v for k, v in TUNING[chosen["chosen"]].items() if k != "epochs")
    assert regularized["subset"] == 300 and regularized["epochs"] == 2  # the quick scale on top
    effects = list(csv.DictReader(open(out / "modality_dropout@reduced.csv")))
    assert len(effects) == 3 * 3 * len(QUICK["damages"]) and {r["change"] for r in effects} <= {"lower", "higher", "no clear change"}
    assert "| right | DMF | " in (out / "modality_dropout@reduced.md").read_text()
    assert any("[tuning] 5/5 trainings done" in line and "the tuning's ETA" in line for line in output)
    assert main(["study", "--protocols", "paper@huge", "--out", str(tmp_path / "x")]) == 2
    # the primary design: every report, the tuning and evaluation seeds disjoint and recorded
    for name in ("tuning.csv", "choice.json", "claims.csv", "claims.md", "convergence.csv", "effects.csv",
                 "config.json"):
        assert (out / "primary" / name).stat().st_size > 0, name
    primary_choice = json.loads((out / "primary" / "choice.json").read_text())
    assert not set(primary_choice["tuning_seeds"]) & set(primary_choice["evaluation_seeds"])
    assert set(primary_choice["chosen"]) == set(arms()) and "the test set chose nothing" in primary_choice["rule"]
    primary_rows = list(csv.DictReader(open(out / "primary" / "claims.csv")))
    assert {r["family"] for r in primary_rows} == set(PRIMARY_FAMILIES) and len(primary_rows) == 16 + 16 + 8
    assert json.loads((out / "primary" / "config.json").read_text())["reproducibility"]["blas"]["library"]
    before = {p: p.read_text() for p in (out / "claims.csv", out / "primary" / "claims.md")}
    for path in before:
        path.unlink()
    monkeypatch.setenv("DMF_NUMPY_DATA", str(tmp_path / "no data here"))
    assert main(["study", "--quick", "--render", "--out", str(out)]) == 0  # trains nothing, needs no data
    assert {p: p.read_text() for p in before} == before


def test_a_table_of_some_damage_levels_puts_the_papers_figures_in_their_columns():
    summary = {(c, m, d): (1.0, 0.1, 5) for c in TABLE_CONDITIONS for m in ("emf", "imf", "dmf") for d in (0.0, 0.7)}
    text = table1_markdown(summary, 5)
    assert "| input | model | 0% damage | 70% damage |" in text
    assert "| left+right | DMF | **1.00 ± 0.10** (1.40) | **1.00 ± 0.10** (9.40) |" in text
    rows = table1_rows(summary)
    assert [(r["damage"], r["paper_error"]) for r in rows if (r["condition"], r["model"]) == ("right", "IMF")] \
        == [(0.0, 51.3), (0.7, 82.9)]


@pytest.mark.parametrize("damages", [(), (0.2,), (0.0, 0.0)])
def test_damage_levels_outside_the_papers_are_refused(tmp_path, damages):
    with pytest.raises(ValueError, match="damages: expected some of the paper's levels"):
        run_table1(tmp_path, damages=damages)
    assert not tmp_path.joinpath("config.json").exists()


def test_the_modality_dropout_report_pairs_the_seeds_of_two_protocols():
    base, other = synthetic_runs(0.0, seeds=4), synthetic_runs(0.0, seeds=4)
    for key, history in other.items():  # every right-only error 10 points lower, each seed a little differently
        other[key] = [{**r, "test_error": {**r["test_error"], "right": r["test_error"]["right"] - 10 - 0.1 * key[2]}}
                      for r in history]
    effects = protocol_effects(base, other, (0.0, 0.3), conditions=("left+right", "right"))
    assert len(effects) == 2 * 3 * 2 and all(tuple(r) == EFFECT_COLUMNS for r in effects)
    right = [r for r in effects if r["condition"] == "right"]
    assert all(r["effect"] == pytest.approx(-10.15) and r["change"] == "lower" for r in right)
    assert all(r["effect"] == 0 and r["change"] == "no clear change" for r in effects if r["condition"] == "left+right")
    text = effects_markdown(effects, "title")
    assert "| right | DMF | " in text and "-10.15 [" in text


def test_the_studys_eta_extrapolates_each_models_measured_pace_to_the_cells_left():
    runs = {key: [{**r, "seconds": {"emf": 1.0, "imf": 1.0, "dmf": 3.0}[key[0]]} for r in history]
            for key, history in synthetic_runs(0.0, seeds=2).items()}  # 8 runs per model, 3 epochs each
    work = {"done": {"emf": 240, "imf": 240, "dmf": 240}, "left": {"emf": 480, "imf": 480, "dmf": 480}}
    # paces: 24 s / 240 (EMF, IMF) and 72 s / 240 (DMF); the cell left has twice the work
    assert study_eta({"done": runs}, work, jobs=1) == pytest.approx(2 * (24 + 24 + 72))
    assert study_eta({"done": runs}, work, jobs=2) == pytest.approx(24 + 24 + 72)
    assert study_eta({"done": runs, "left": runs}, work, jobs=1) == 0
    assert cell_work({"subset": 300, "epochs": 2}, 2, (0.0, 0.7)) == {m: 2 * 2 * 2 * 300 for m in ("emf", "imf", "dmf")}
    assert cell_work({}, 5, DAMAGES)["dmf"] == 5 * 4 * 20 * 50_000
    started = {key: history[:1] for key, history in synthetic_runs(0.0, seeds=2).items()}  # 1 of 3 epochs run
    assert cell_work({"subset": 300, "epochs": 3}, 2, DAMAGES, runs=started) == {m: 2 * 4 * 2 * 300
                                                                                for m in ("emf", "imf", "dmf")}


@pytest.mark.slow
def test_the_committed_study_re_renders_from_its_histories_without_data_or_training(tmp_path, monkeypatch):
    committed = Path(__file__).resolve().parents[1] / "results" / "study"
    shutil.copytree(committed, tmp_path / "study")
    (tmp_path / "no-data").mkdir()
    monkeypatch.setenv("DMF_NUMPY_DATA", str(tmp_path / "no-data"))  # nothing to train on: nothing may be trained
    assert main(["study", "--jobs", "1", "--out", str(tmp_path / "study")]) == 0
    for path in sorted(committed.rglob("*")):
        if path.is_file():
            assert (tmp_path / "study" / path.relative_to(committed)).read_bytes() == path.read_bytes(), path
    assert not list((tmp_path / "study").rglob("comparison.md"))  # each protocol is compared in the claims


@pytest.mark.slow
def test_render_keeps_to_the_part_asked_for(tmp_path, monkeypatch):
    """`study --render --part primary` rewrites the primary design's reports alone, byte for byte,
    in a folder that holds no grid; asked for a primary design that is not there, it says so."""
    committed = Path(__file__).resolve().parents[1] / "results" / "study" / "primary"
    shutil.copytree(committed, tmp_path / "study" / "primary")
    (tmp_path / "no-data").mkdir()
    monkeypatch.setenv("DMF_NUMPY_DATA", str(tmp_path / "no-data"))
    (tmp_path / "study" / "primary" / "claims.md").unlink()
    assert main(["study", "--render", "--part", "primary", "--out", str(tmp_path / "study")]) == 0
    assert (tmp_path / "study" / "primary" / "claims.md").read_bytes() == (committed / "claims.md").read_bytes()
    assert not (tmp_path / "study" / "claims.md").exists()  # the grid was not asked for
    assert main(["study", "--render", "--part", "primary", "--out", str(tmp_path / "other")]) == 2
