"""The claims the paper rests on, under review: every model tuned alike, baselines of DMF's
capacity, fresh evaluation seeds, corrected tests, and convergence measured as speed.

The design, declared before any evaluation run:

- **Arms** (:func:`arms`): DMF, IMF and EMF at the paper's sizes, and IMF and EMF widened to
  DMF's parameter count (``imf_matched``, ``emf_matched``; :mod:`.capacity`).
- **Scale** (:data:`SCALE`): 10,000 training images, 10 epochs, the paper's layer sizes; the
  validation and test splits are MNIST's 10,000 each. The paper's full scale costs about six
  times more per training, which 2 cores cannot give 200 trainings in the budget.
- **Equal tuning** (:func:`run_tuning`): every arm is trained with each candidate of
  :data:`CANDIDATES` (no regularization, shifted training digits, a schedule twice as long with
  the same total learning-rate decay, both) on each of :data:`TUNING_SEEDS`, at 0 % damage, and
  keeps the candidate with the lowest mean final validation error with both halves. No test
  error is read.
- **Evaluation** (:func:`run_evaluation`): every arm under two protocols, ``paper`` (no
  regularization) and ``tuned`` (its own choice), at 0 and 70 % damage, on
  :data:`EVALUATION_SEEDS`, disjoint from the tuning seeds.
- **Families** (:data:`FAMILIES`), Holm's correction within each: *primary*, DMF against each
  of the four baselines with both halves at 0 and 70 % damage under both protocols (16 tests);
  *secondary*, the same with the right half alone; *convergence*, the epochs DMF and each
  baseline need to reach a validation error fixed in advance (:func:`convergence_threshold`),
  at 0 % damage under both protocols, by an exact sign test over the seeds.

:func:`run_primary` runs it all into ``out_dir`` (resumable: every finished epoch is kept) and
writes ``tuning.csv``, ``choice.json``, ``claims.csv``, ``claims.md``, ``convergence.csv`` and
``effects.csv`` (each claim's effect under both protocols, side by side).
"""

from __future__ import annotations

import functools
import json
import math
import time
from pathlib import Path

import numpy as np

from ..core.errors import UserError
from ..core.fusion import build_model
from ..datasets.mnist import load_mnist
from ..files import write_csv, write_json, write_text
from ..training.loop import format_seconds
from .capacity import matched_settings
from .claims import csv_value, format_p, holm_verdicts, paired_verdict
from .common import holds_output_folder, machine_record
from .table1 import read_finished, train_unfinished, worker_threads
from .train_run import TrainConfig

#: The training scale of every run here (``--quick``: :data:`QUICK_SCALE`).
SCALE = {"subset": 10_000, "epochs": 10}
QUICK_SCALE = {"subset": 300, "epochs": 2}
#: The tuning candidates; ``long`` doubles the scale's epochs with a learning-rate decay of
#: :data:`LONG_DECAY` per epoch, the same total decay (0.9^10 ≈ 0.95^20 ≈ 0.35).
CANDIDATES = {"none": {}, "shift": {"shift": 1}, "long": {"long": True}, "shift_long": {"shift": 1, "long": True}}
LONG_DECAY = 0.95
#: The seeds that tune, and the seeds that evaluate (disjoint). ``--quick`` keeps the first two
#: evaluation seeds.
TUNING_SEEDS = (100, 101)
EVALUATION_SEEDS = tuple(range(10))
QUICK_EVALUATION_SEEDS = EVALUATION_SEEDS[:2]
#: The damage levels of the evaluation; the tuning runs at the first.
DAMAGES = (0.0, 0.7)
PROTOCOLS = ("paper", "tuned")
BASELINES = ("imf", "emf", "imf_matched", "emf_matched")
#: The families of claims, declared before the verdicts; Holm's correction runs within each.
FAMILIES = {
    "primary": "DMF < each baseline (IMF, EMF, and both matched to DMF's capacity), test error with both "
               "halves, at 0 and 70 % damage, under the paper protocol and the tuned one (16 tests)",
    "secondary": "the same comparisons with the right half alone (16 tests)",
    "convergence": "DMF reaches the fixed validation error in fewer epochs than each baseline, 0 % damage, "
                   "both protocols (8 tests, exact sign test)",
}


@functools.cache
def arms():
    """The models compared: ``{name: TrainConfig overrides}``, the matched baselines with their
    widened sizes (:func:`~dmf_numpy.experiments.capacity.matched_settings`)."""
    result = {"dmf": {"model": "dmf"}, "imf": {"model": "imf"}, "emf": {"model": "emf"}}
    for model in ("imf", "emf"):
        result[f"{model}_matched"] = {"model": model, **matched_settings(model)}
    return result


def n_params_of(arm):
    """The parameter count of an arm."""
    return build_model(TrainConfig(**arms()[arm]).to_dict()).n_params


def design(quick=False):
    """The design as ``config.json`` records it: scale, candidates, seeds, damage levels, arms."""
    return {"scale": QUICK_SCALE if quick else SCALE, "candidates": CANDIDATES, "long_decay": LONG_DECAY,
            "tuning_seeds": list(TUNING_SEEDS), "evaluation_seeds": list(evaluation_seeds(quick)),
            "damages": list(DAMAGES), "arms": {arm: {**settings, "n_params": n_params_of(arm)}
                                               for arm, settings in arms().items()}}


def candidate_settings(candidate, quick=False):
    """The :class:`TrainConfig` overrides of a tuning candidate at this module's scale."""
    scale = QUICK_SCALE if quick else SCALE
    settings, extra = dict(scale), dict(CANDIDATES[candidate])
    if extra.pop("long", False):
        settings.update(epochs=2 * scale["epochs"], lr_decay=LONG_DECAY)
    return {**settings, **extra}


def config_of(arm, candidate, damage, seed, quick=False):
    return TrainConfig(**arms()[arm], **candidate_settings(candidate, quick), damage=damage, seed=seed)


def evaluation_seeds(quick=False):
    return QUICK_EVALUATION_SEEDS if quick else EVALUATION_SEEDS


def _train(out_dir, items, configs, jobs, data_dir, log, label, train=True, quick=False):
    """Read the finished runs of ``items`` (their folders under ``out_dir``), train the rest
    (with ``train``; else refuse them); ``config.json`` records the machine that trains them
    (:func:`machine_record`)."""
    run_dirs = [out_dir / "/".join(item) for item in items]
    results, todo = read_finished(run_dirs, configs)
    log(f"[{label}] {len(items)} trainings, {len(items) - len(todo)} already finished")
    if todo and not train:
        raise UserError(f"{out_dir}: {len(todo)} of the {label}'s runs are missing or unfinished "
                        f"({run_dirs[todo[0]]} ...); run the study to finish them")
    if todo:
        load_mnist(data_dir)  # find the data once, before the workers start
        write_json(out_dir / "config.json", {"design": design(quick),
                                              "reproducibility": machine_record(worker_threads(jobs))})
        train_unfinished(results, todo, configs, run_dirs, [f"study primary {'/'.join(i)}" for i in items],
                         data_dir, jobs, log, label=label, whole=f"the {label}")
    return {item: result["history"] for item, result in zip(items, results)}


def run_tuning(out_dir, *, quick=False, jobs=1, data_dir=None, log=print, train=True):
    """Train every arm with every candidate on every tuning seed, at 0 % damage, choose each
    arm's candidate on validation and write ``tuning.csv``.

    Returns
    -------
    chosen : dict
        ``{arm: candidate}``.
    scores : dict
        ``{(arm, candidate): mean final validation error (%) with both halves}``.
    runs : dict
        The histories, ``{(arm, candidate, seed): history}``.
    """
    items, configs = [], []
    for arm in arms():
        for candidate in CANDIDATES:
            for seed in TUNING_SEEDS:
                items.append(("tuning", arm, f"{candidate}_seed{seed}"))
                configs.append(config_of(arm, candidate, DAMAGES[0], seed, quick))
    histories = _train(Path(out_dir), items, configs, jobs, data_dir, log, "tuning", train, quick)
    scores = {(arm, candidate): float(np.mean([histories[("tuning", arm, f"{candidate}_seed{seed}")][-1]
                                               ["val_error"]["left+right"] for seed in TUNING_SEEDS]))
              for arm in arms() for candidate in CANDIDATES}
    chosen = {arm: min(CANDIDATES, key=lambda c: scores[(arm, c)]) for arm in arms()}
    rows = [{"arm": arm, "candidate": c, "settings": json.dumps(candidate_settings(c, quick), sort_keys=True),
             "val_error_left_right": round(scores[(arm, c)], 4), "chosen": c == chosen[arm]}
            for arm in arms() for c in CANDIDATES]
    write_csv(Path(out_dir) / "tuning.csv", rows)
    log("[tuning] chosen on validation: " + ", ".join(f"{arm} {c} ({scores[(arm, c)]:.2f} %)"
                                                      for arm, c in chosen.items()))
    runs = {(arm, c, seed): histories[("tuning", arm, f"{c}_seed{seed}")]
            for arm in arms() for c in CANDIDATES for seed in TUNING_SEEDS}
    return chosen, scores, runs


def convergence_threshold(tuning_runs):
    """The validation error (%, both halves) every arm's speed is measured against, fixed before
    any evaluation run is read: the mean final validation error of IMF under the paper protocol
    (the candidate ``none``) over the tuning seeds."""
    return float(np.mean([tuning_runs[("imf", "none", seed)][-1]["val_error"]["left+right"]
                          for seed in TUNING_SEEDS]))


def run_evaluation(out_dir, chosen, *, quick=False, jobs=1, data_dir=None, log=print, train=True):
    """Train every arm under both protocols at every damage level and evaluation seed.

    Returns
    -------
    dict
        ``{(protocol, arm, damage, seed): history}``.
    """
    items, configs, keys = [], [], []
    for protocol in PROTOCOLS:
        for arm in arms():
            candidate = "none" if protocol == "paper" else chosen[arm]
            for damage in DAMAGES:
                for seed in evaluation_seeds(quick):
                    keys.append((protocol, arm, damage, seed))
                    items.append((protocol, arm, f"damage{damage:.2f}_seed{seed}"))
                    configs.append(config_of(arm, candidate, damage, seed, quick))
    histories = _train(Path(out_dir), items, configs, jobs, data_dir, log, "evaluation", train, quick)
    return {key: histories[item] for key, item in zip(keys, items)}


def evaluation_eta(tuning_runs, chosen, quick, jobs):
    """Seconds the evaluation's trainings take, ``jobs`` at a time, at each arm's pace in the
    tuning (its seconds per epoch); a rough figure that counts finished runs too."""
    pace = {arm: np.mean([r["seconds"] for (a, _, _), history in tuning_runs.items() if a == arm for r in history])
            for arm in arms()}
    paper_epochs = candidate_settings("none", quick)["epochs"]
    runs = len(DAMAGES) * len(evaluation_seeds(quick))  # of each arm, under each protocol
    return sum(pace[arm] * runs * (paper_epochs + candidate_settings(chosen[arm], quick)["epochs"])
               for arm in arms()) / jobs


def epochs_to_reach(history, threshold):
    """The first epoch whose validation error with both halves is at most ``threshold``; inf if
    none is."""
    return next((r["epoch"] for r in history if r["val_error"]["left+right"] <= threshold), math.inf)


def sign_test(dmf, other):
    """DMF faster than ``other``? An exact two-sided sign test over paired epoch counts (ties
    dropped; a run that never reaches the threshold is slower than any that does).

    Returns
    -------
    dict
        ``effect`` (the median of DMF's epochs minus the other's, nan when neither reached),
        ``faster``, ``slower``, ``ties`` (seed counts), ``p_value``.
    """
    with np.errstate(invalid="ignore"):  # inf - inf is nan: a tie
        d = np.asarray(dmf, dtype=float) - np.asarray(other, dtype=float)
    faster, slower = int(np.sum(d < 0)), int(np.sum(d > 0))
    ties = d.size - faster - slower
    from scipy.stats import binomtest  # here, not at the top: see claims.paired_verdict

    p = binomtest(faster, faster + slower).pvalue if faster + slower else math.nan
    reached = d[np.isfinite(d)]
    return {"effect": float(np.median(reached)) if reached.size else math.nan, "faster": faster,
            "slower": slower, "ties": ties, "p_value": float(p)}


#: The columns of ``claims.csv``.
COLUMNS = ("claim", "family", "protocol", "baseline", "condition", "damage", "verdict", "effect", "ci_low",
           "ci_high", "p_value", "p_holm", "min_detectable_effect", "n_seeds", "dmf_mean", "baseline_mean")


def primary_claims(runs, threshold, seeds):
    """Every claim of the primary design, with Holm's correction within each family.

    Parameters
    ----------
    runs : dict
        ``{(protocol, arm, damage, seed): history}`` (:func:`run_evaluation`).
    threshold : float
        :func:`convergence_threshold`.
    seeds : sequence of int

    Returns
    -------
    list of dict
        One row per claim, the keys :data:`COLUMNS`. Test-error claims: the paired t-test
        (:func:`~dmf_numpy.experiments.claims.paired_verdict`); convergence claims: the effect
        is the median difference in epochs, and the interval columns are empty.
    """
    rows = []
    for family, condition in (("primary", "left+right"), ("secondary", "right")):
        for protocol in PROTOCOLS:
            for baseline in BASELINES:
                for damage in DAMAGES:
                    errors = {arm: [runs[(protocol, arm, damage, s)][-1]["test_error"][condition] for s in seeds]
                              for arm in ("dmf", baseline)}
                    verdict = paired_verdict(errors["dmf"], errors[baseline])
                    rows.append({"claim": f"DMF < {baseline.upper()}, {condition}, {damage:.0%} damage, {protocol}",
                                 "family": family, "protocol": protocol, "baseline": baseline,
                                 "condition": condition, "damage": damage, **verdict,
                                 "dmf_mean": float(np.mean(errors["dmf"])),
                                 "baseline_mean": float(np.mean(errors[baseline]))})
    for protocol in PROTOCOLS:
        epochs = {arm: [epochs_to_reach(runs[(protocol, arm, DAMAGES[0], s)], threshold) for s in seeds]
                  for arm in ("dmf", *BASELINES)}
        for baseline in BASELINES:
            test = sign_test(epochs["dmf"], epochs[baseline])
            reached = {arm: sum(math.isfinite(e) for e in epochs[arm]) for arm in ("dmf", baseline)}
            rows.append({"claim": f"DMF reaches {threshold:.2f} % validation error in fewer epochs than "
                                  f"{baseline.upper()}, {DAMAGES[0]:.0%} damage, {protocol} "
                                  f"({test['faster']} faster, {test['slower']} slower, {test['ties']} ties; "
                                  f"reached by DMF on {reached['dmf']}, by {baseline.upper()} on "
                                  f"{reached[baseline]} of {len(seeds)} seeds)",
                         "direction": test["slower"] - test["faster"],  # negative: DMF faster on more seeds
                         "family": "convergence", "protocol": protocol, "baseline": baseline,
                         "condition": "left+right", "damage": DAMAGES[0], "effect": test["effect"],
                         "ci_low": math.nan, "ci_high": math.nan, "p_value": test["p_value"],
                         "min_detectable_effect": math.nan, "n_seeds": len(seeds),
                         "dmf_mean": _finite_mean(epochs["dmf"]), "baseline_mean": _finite_mean(epochs[baseline])})
    holm_verdicts(rows)
    return [{k: row.get(k) for k in COLUMNS} for row in rows]


def _finite_mean(values):
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def convergence_rows(runs, threshold, seeds, n_images):
    """``convergence.csv``: for each protocol, arm and seed at 0 % damage, the epochs and image
    passes to reach ``threshold`` (empty: never), and the seconds it took."""
    rows = []
    for protocol in PROTOCOLS:
        for arm in arms():
            for seed in seeds:
                history = runs[(protocol, arm, DAMAGES[0], seed)]
                epochs = epochs_to_reach(history, threshold)
                reached = math.isfinite(epochs)
                rows.append({"protocol": protocol, "arm": arm, "seed": seed, "threshold": round(threshold, 4),
                             "epochs": epochs if reached else "", "image_passes": epochs * n_images if reached else "",
                             "seconds": round(sum(r["seconds"] for r in history[:epochs]), 1) if reached else "",
                             "epochs_trained": len(history)})
    return rows


def effects_rows(rows):
    """``effects.csv``: each test-error claim's effect and interval under both protocols, side by
    side, so that the protocols compare by their effects rather than by verdict counts."""
    by_claim = {}
    for row in rows:
        if row["family"] == "convergence":
            continue
        key = (row["baseline"], row["condition"], row["damage"])
        cell = by_claim.setdefault(key, {"baseline": key[0], "condition": key[1], "damage": key[2]})
        for k in ("effect", "ci_low", "ci_high", "verdict"):
            cell[f"{row['protocol']}_{k}"] = row[k]
    return list(by_claim.values())


@holds_output_folder
def run_primary(out_dir, *, quick=False, jobs=1, data_dir=None, log=print, train=True):
    """Tune every arm, evaluate them on fresh seeds, and write the verdicts (see the module
    docstring). Interrupted? Run it again: finished runs are read, half-finished ones resume.
    With ``train=False`` it trains nothing and needs no data: it writes the reports again from
    the finished runs' histories, and refuses if one is missing. Returns the rows of
    ``claims.csv``."""
    out_dir, start = Path(out_dir), time.perf_counter()
    chosen, scores, tuning_runs = run_tuning(out_dir, quick=quick, jobs=jobs, data_dir=data_dir, log=log,
                                             train=train)
    threshold = convergence_threshold(tuning_runs)
    seeds = evaluation_seeds(quick)
    write_json(out_dir / "choice.json", {
        "chosen": chosen, "settings": {arm: candidate_settings(c, quick) for arm, c in chosen.items()},
        "validation_error_left_right": {f"{arm}/{c}": round(v, 4) for (arm, c), v in scores.items()},
        "rule": "per arm, the candidate with the lowest mean final validation error with both halves at "
                f"{DAMAGES[0]:.0%} damage over the tuning seeds; the test set chose nothing",
        "tuning_seeds": list(TUNING_SEEDS), "evaluation_seeds": list(seeds),
        "convergence_threshold": round(threshold, 4),
        "convergence_rule": "the mean final validation error (both halves) of IMF under the paper protocol over "
                            "the tuning seeds, fixed before any evaluation run",
        "quick": quick})
    if train:
        log(f"[primary] evaluation: about {format_seconds(evaluation_eta(tuning_runs, chosen, quick, jobs))} at the "
            "pace of the tuning's trainings, less what is already finished")
    runs = run_evaluation(out_dir, chosen, quick=quick, jobs=jobs, data_dir=data_dir, log=log, train=train)
    rows = primary_claims(runs, threshold, seeds)
    write_reports(out_dir, rows, runs, threshold, seeds, quick)
    log(f"[primary] done in {format_seconds(time.perf_counter() - start)}; wrote {out_dir}/claims.csv, claims.md")
    return rows


def write_reports(out_dir, rows, runs, threshold, seeds, quick=False):
    """Write ``claims.csv``, ``claims.md``, ``convergence.csv`` and ``effects.csv``."""
    out_dir = Path(out_dir)
    n_images = (QUICK_SCALE if quick else SCALE)["subset"]
    write_csv(out_dir / "claims.csv", [{k: csv_value(row[k], k) for k in COLUMNS} for row in rows], list(COLUMNS))
    write_csv(out_dir / "convergence.csv", convergence_rows(runs, threshold, seeds, n_images))
    effects = effects_rows(rows)
    write_csv(out_dir / "effects.csv", [{k: csv_value(v, k) for k, v in row.items()} for row in effects])
    write_text(out_dir / "claims.md", claims_markdown(rows, effects, threshold, seeds))


def _interval(row):
    return "-" if math.isnan(row["ci_low"]) else f"[{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]"


def claims_markdown(rows, effects, threshold, seeds):
    """``claims.md``: the design, the families and every verdict, what survives capacity
    matching, and the convergence verdicts."""
    lines = [f"**The primary claims, under equal tuning, with capacity-matched baselines, on {len(seeds)} "
             f"evaluation seeds** ({seeds[0]}-{seeds[-1]}; tuning seeds {', '.join(map(str, TUNING_SEEDS))}). "
             "Test error (%) of DMF minus the baseline's (negative: DMF better), its 95 % interval over paired "
             "seeds, the paired t-test's p-value and Holm's adjustment of it within the family. The verdict rests "
             "on the adjusted p-value: *holds* (below 0.05, DMF better), *contradicted* (below 0.05, DMF worse), "
             "else *not supported (inconclusive)*. 'detectable': the smallest effect the cell could detect with "
             "80 % power at its seed count and observed spread (before the correction).", "",
             "The families, declared before any evaluation run:", ""]
    lines += [f"- {family}: {text}" for family, text in FAMILIES.items()]
    for family in ("primary", "secondary"):
        lines += ["", f"**{family.capitalize()} family**", "",
                  "| protocol | baseline | damage | DMF | baseline | effect | 95 % interval | p | p (Holm) | "
                  "detectable | verdict |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in (r for r in rows if r["family"] == family):
            lines.append(f"| {r['protocol']} | {r['baseline'].upper()} | {r['damage']:.0%} | {r['dmf_mean']:.2f} | "
                         f"{r['baseline_mean']:.2f} | {r['effect']:+.2f} | {_interval(r)} | {format_p(r['p_value'])} "
                         f"| {format_p(r['p_holm'])} | {r['min_detectable_effect']:.2f} | {r['verdict']} |")
    lines += ["", "**What survives capacity matching** (primary family): DMF's verdict against each baseline at "
              "the paper's sizes and against the same baseline widened to DMF's parameter count.", "",
              "| protocol | damage | vs IMF | vs IMF matched | vs EMF | vs EMF matched |", "|---|---|---|---|---|---|"]
    primary = {(r["protocol"], r["baseline"], r["damage"]): r for r in rows if r["family"] == "primary"}
    for protocol in PROTOCOLS:
        for damage in DAMAGES:
            cells = [primary[(protocol, b, damage)] for b in ("imf", "imf_matched", "emf", "emf_matched")]
            lines.append(f"| {protocol} | {damage:.0%} | " + " | ".join(
                f"{c['verdict']} ({c['effect']:+.2f})" for c in cells) + " |")
    lines += ["", f"**Convergence.** Epochs to reach {threshold:.2f} % validation error with both halves (the mean "
              "final validation error of IMF under the paper protocol on the tuning seeds, fixed before any "
              "evaluation run), at 0 % damage; exact sign test over the seeds (a seed that never reaches it is "
              "slower than one that does; ties dropped), Holm within the family. 'DMF' and 'baseline': the mean "
              "epochs of the seeds that reached it (convergence.csv has every seed, with image passes and "
              "seconds).", "",
              "| protocol | baseline | DMF | baseline | median difference | p | p (Holm) | verdict | seeds |",
              "|---|---|---|---|---|---|---|---|---|"]
    for r in (r for r in rows if r["family"] == "convergence"):
        lines.append(f"| {r['protocol']} | {r['baseline'].upper()} | {r['dmf_mean']:.1f} | {r['baseline_mean']:.1f} | "
                     f"{r['effect']:+.1f} | {format_p(r['p_value'])} | {format_p(r['p_holm'])} | {r['verdict']} | "
                     f"{r['claim'].split('(')[-1].rstrip(')')} |")
    lines += ["", "**The protocols compared by their effects** (effects.csv): DMF minus the baseline, paper protocol "
              "then tuned.", "", "| input | damage | baseline | paper | tuned |", "|---|---|---|---|---|"]
    for e in effects:
        cells = [f"{e[f'{p}_effect']:+.2f} " + _interval({k: e[f"{p}_{k}"] for k in ("ci_low", "ci_high")})
                 for p in PROTOCOLS]
        lines.append(f"| {e['condition']} | {e['damage']:.0%} | {e['baseline'].upper()} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
