"""Which of the paper's claims hold, and under which protocol. Two parts (:data:`PARTS`): the
primary design (:mod:`~dmf_numpy.experiments.primary`, into ``out_dir/primary``: equal tuning,
capacity-matched baselines, 10 fresh seeds; its verdicts decide), and, described here, Table 1
under a declared grid of protocols, a verdict on every claim from paired seeds, and the
protocol chosen on validation (exploratory).

Each protocol is a set of :class:`~dmf_numpy.experiments.train_run.TrainConfig` overrides of the
committed Table 1 protocol, run as a Table 1 (:func:`~dmf_numpy.experiments.table1.run_table1`)
into ``out_dir/<protocol>@<scale>/`` (its ``table1.csv``, ``table1.md``, ``fig4.png`` and runs).
The protocol ``regularized`` is the one search of the grid: first :func:`run_tuning` trains the
candidates of :data:`TUNING` once each into ``out_dir/tuning/`` and picks one on the validation
split (``tuning.csv``, ``tuning.json``); then all three models get it. Then:

- ``claims.csv``: every claim of Table 1 and Fig. 4 under every protocol, with its family, the
  effect, its 95 % confidence interval, the paired t-test's p-value, Holm's adjustment of it
  within the family, the verdict that rests on it and the smallest effect the cell could detect
  (:func:`dmf_numpy.experiments.claims.table1_claims`);
- ``claims.md``: each claim's effect under every protocol side by side, then every claim of
  each protocol with its verdict;
- ``claims.png``: the effects and their intervals, by protocol;
- ``modality_dropout@<scale>.csv`` and ``.md``: what modality dropout changes against the
  committed protocol, per model, damage level and test input
  (:func:`dmf_numpy.experiments.claims.protocol_effects`);
- ``best_table1.csv``: the Table 1 of the protocol chosen on the *validation* split (the lowest
  mean validation error of DMF with both halves at 0 % damage over the seeds, among the
  protocols trained on the most images); ``choice.json`` says why. The test set chooses nothing.

The grid (:data:`PROTOCOLS`, :data:`GRID`) and its scales (:data:`SCALES`) are declared here,
with the reductions the compute budget asks for. Interrupted? Run the same command again: every
finished epoch of every training is kept. :func:`render_claims` writes the claims' reports again
from the runs' histories alone, without training.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from ..core.errors import UserError
from ..datasets.halves import MNIST_TRAIN_COUNT
from ..datasets.mnist import load_mnist
from ..files import write_csv, write_json, write_text
from ..training.loop import format_seconds
from .claims import (COLUMNS, EFFECT_COLUMNS, FAMILIES, csv_value, format_p, protocol_effects,
                     table1_claims)
from .common import holds_output_folder, new_figure, save_figure
from .primary import run_primary
from .table1 import DAMAGES, MODELS, read_finished, run_table1, train_unfinished
from .train_run import TrainConfig

#: The placeholder of a protocol whose overrides the tuning chooses (:func:`run_tuning`).
TUNED = "chosen on validation by the tuning"

#: The protocols: overrides of the committed Table 1 protocol (Glorot initialization, no
#: pretraining, damage in training and test images, both modalities in training).
PROTOCOLS = {
    "paper": {},
    "pretrained": {"pretrain": 5},  # (a) 5 epochs of generative pretraining of the encoder, then fine-tuning
    "test_damage": {"damage_on": "test"},  # (b) intact training images, damaged test images
    "fan_in": {"init": "fan_in"},  # (c) uniform in +-1/sqrt(fan_in) per block, biases too
    "modality_dropout": {"modality_dropout": 0.3},  # beyond the paper: 30 % of the samples lose x or y
    "regularized": TUNED,  # the search for the paper's 1.40 %: the best of TUNING, for all three models
}

#: The search for the paper's 1.40 % (DMF, left+right, 0 % damage) with regularization the paper
#: does not name: shifted training digits (``shift``, :func:`dmf_numpy.datasets.halves.shift_halves`),
#: and a schedule twice as long with a slower decay. Each candidate is a set of overrides of the
#: committed protocol, trained once for DMF at the paper's scale (:data:`TUNING_RUN`) and judged by
#: its final *validation* error with both halves; the best becomes the protocol ``regularized``,
#: which all three models then get. ``none`` is the committed protocol itself.
TUNING = {
    "none": {},
    "shift1": {"shift": 1},
    "shift2": {"shift": 2},
    "shift1_long": {"shift": 1, "epochs": 40, "lr_decay": 0.95},
    "shift2_long": {"shift": 2, "epochs": 40, "lr_decay": 0.95},
}
#: The one training per candidate: DMF, seed 0, intact images, all 50,000 training images.
TUNING_RUN = {"model": "dmf", "seed": 0, "damage": 0.0}

#: The scale of the full study, on 2 cores: the reference protocol at the paper's scale with 5
#: seeds (d); the secondary axes on 10,000 training images and 10 epochs, 3 seeds each, which is
#: a tenth of the cost of a training at full scale. The reference protocol is also run at the
#: reduced scale, so that every protocol is compared with it at the scale it ran at. A scale's
#: settings override the protocol's (a reduced scale shortens every schedule); ``damages`` are
#: the columns of Table 1 it trains.
#: ``headline`` is the paper's scale with 5 seeds for two columns only, 0 % damage (the 1.40 %
#: target) and 70 %: the ``regularized`` protocol's schedule is twice as long, and its whole
#: Table 1 would take more than two hours on 2 cores.
SCALES = {
    "full": {"seeds": 5, "settings": {}, "damages": DAMAGES},
    "reduced": {"seeds": 3, "settings": {"subset": 10_000, "epochs": 10}, "damages": DAMAGES},
    "headline": {"seeds": 5, "settings": {}, "damages": (0.0, 0.7)},
}
#: Which protocols run at which scale (``paper@full`` is the reference).
GRID = [("paper", "full"), ("paper", "reduced"), ("pretrained", "reduced"), ("test_damage", "reduced"),
        ("fan_in", "reduced"), ("modality_dropout", "reduced"), ("regularized", "headline")]
#: ``--quick``: every cell of the grid on a few hundred images, at two damage levels, for the tests.
QUICK = {"seeds": 2, "settings": {"subset": 300, "epochs": 2}, "pretrain": 1, "damages": (0.0, 0.7)}


def protocol_name(protocol, scale):
    return f"{protocol}@{scale}"


def read_runs(folder):
    """The runs of one Table 1 folder: ``{(model, damage, seed): history}``."""
    runs = {}
    for path in sorted(Path(folder).glob("runs/*/config.json")):
        config = json.loads(path.read_text(encoding="utf-8"))
        runs[(config["model"], config["damage"], config["seed"])] = json.loads(
            (path.parent / "history.json").read_text(encoding="utf-8"))
    return runs


def validation_score(runs):
    """Mean final validation error (%) of DMF with both halves at 0 % damage, over the seeds."""
    return float(np.mean([h[-1]["val_error"]["left+right"] for (m, d, _), h in runs.items()
                          if m == "dmf" and d == 0.0]))


def cell_damages(scale, quick):
    """The damage levels (Table 1's columns) a cell of the grid at ``scale`` trains."""
    return QUICK["damages"] if quick else SCALES[scale]["damages"]


def cell_settings(overrides, scale, quick):
    """The :class:`~dmf_numpy.experiments.train_run.TrainConfig` overrides of one cell of the grid:
    the protocol's, then the scale's (or :data:`QUICK`'s) on top."""
    settings = {**overrides, **(QUICK if quick else SCALES[scale])["settings"]}
    if quick and settings.get("pretrain"):
        settings["pretrain"] = QUICK["pretrain"]
    return settings


def run_tuning(out_dir, *, quick=False, jobs=1, data_dir=None, log=print):
    """Train every candidate of :data:`TUNING` once (:data:`TUNING_RUN`) and choose on validation.

    Writes ``tuning.csv`` (each candidate's settings and final validation error with both
    halves; no test error) and ``tuning.json`` (the choice and its rule) into ``out_dir``, with
    one run folder per candidate. Interrupted? Run it again: finished runs are kept.

    Returns
    -------
    dict
        The chosen candidate's overrides.
    """
    out_dir, names = Path(out_dir), list(TUNING)
    configs = [TrainConfig(**TUNING_RUN, **cell_settings(TUNING[name], "full", quick)) for name in names]
    run_dirs = [out_dir / name for name in names]
    results, todo = read_finished(run_dirs, configs)
    log(f"[tuning] {len(names)} candidates for DMF's left+right error at 0 % damage, chosen on validation: "
        + ", ".join(names) + (f"; {len(names) - len(todo)} already finished" if len(todo) < len(names) else ""))
    if todo:
        load_mnist(data_dir)  # find the data once, before the workers start
        train_unfinished(results, todo, configs, run_dirs, [f"study tuning ({name})" for name in names], data_dir,
                         jobs, log, label="tuning", whole="the tuning")
    rows = [{"candidate": name, "settings": json.dumps(TUNING[name], sort_keys=True),
             "epochs": len(result["history"]),
             "val_error_left_right": round(result["history"][-1]["val_error"]["left+right"], 4)}
            for name, result in zip(names, results)]
    chosen = min(rows, key=lambda row: row["val_error_left_right"])["candidate"]
    write_csv(out_dir / "tuning.csv", rows)
    write_json(out_dir / "tuning.json", {
        "chosen": chosen, "settings": TUNING[chosen], "run": TUNING_RUN, "quick": quick,
        "rule": "lowest final validation error of DMF with both halves, one training per candidate; "
                "the test set chose nothing"})
    log(f"[tuning] chosen on validation: {chosen} {TUNING[chosen]} "
        f"({min(r['val_error_left_right'] for r in rows):.2f} %); wrote {out_dir}/tuning.csv")
    return TUNING[chosen]


#: The parts of the study: the primary design (:mod:`~dmf_numpy.experiments.primary`, into
#: ``out_dir/primary``), whose verdicts decide, and the grid of protocols.
PARTS = ("primary", "grid")


@holds_output_folder
def run_study(out_dir, *, quick=False, jobs=1, data_dir=None, grid=None, parts=PARTS, log=print):
    """Run the primary design, then the grid of protocols and write its claims, their figure
    and the best protocol's table.

    Parameters
    ----------
    out_dir : str or Path
    quick : bool
        Every cell of the grid on a few hundred images (:data:`QUICK`): a smoke test, not a study.
    jobs : int
        Trainings run in parallel (see :func:`~dmf_numpy.experiments.table1.run_table1`).
    data_dir : str or Path, optional
        Where MNIST is.
    grid : sequence of ``(protocol, scale)``, optional
        A part of :data:`GRID` (default: all of it). A ``regularized`` cell runs the tuning
        (:func:`run_tuning`) into ``out_dir/tuning`` first.
    parts : sequence of str
        Some of :data:`PARTS`.
    log : callable

    Returns
    -------
    list of dict
        The rows of the grid's ``claims.csv`` (empty without the grid).
    """
    grid = list(grid or GRID)
    unknown = [cell for cell in grid if cell[0] not in PROTOCOLS or cell[1] not in SCALES]
    if unknown:
        raise UserError(f"grid: unknown protocol or scale {unknown}; protocols {sorted(PROTOCOLS)}, "
                        f"scales {sorted(SCALES)}")
    if not parts or not set(parts) <= set(PARTS):
        raise UserError(f"parts: expected some of {list(PARTS)}, got {list(parts)}")
    if "primary" in parts:
        run_primary(Path(out_dir) / "primary", quick=quick, jobs=jobs, data_dir=data_dir, log=log)
    if "grid" not in parts:
        return []
    out_dir, start, rows, scores, runs_of = Path(out_dir), time.perf_counter(), [], {}, {}
    tuned = None
    if any(PROTOCOLS[protocol] is TUNED for protocol, _ in grid):
        tuned = run_tuning(out_dir / "tuning", quick=quick, jobs=jobs, data_dir=data_dir, log=log)
    cells = {protocol_name(protocol, scale): (  # the settings, seeds and damage levels of each cell
        cell_settings(tuned if PROTOCOLS[protocol] is TUNED else PROTOCOLS[protocol], scale, quick),
        (QUICK if quick else SCALES[scale])["seeds"], cell_damages(scale, quick)) for protocol, scale in grid}
    for number, (name, (settings, seeds, damages)) in enumerate(cells.items(), 1):
        log(f"[study] {name}: {settings or 'the committed protocol'}, {seeds} seeds")
        run_table1(out_dir / name, seeds=seeds, jobs=jobs, data_dir=data_dir, command=f"study {name}", log=log,
                   damages=damages, compare=None, **settings)  # a protocol of its own: the claims compare
        runs_of[name] = runs = read_runs(out_dir / name)
        rows += table1_claims(runs, name, damages)
        scores[name] = {"scale": name.split("@")[1], "training_images": settings.get("subset") or "all",
                        "dmf_val_error_left_right": validation_score(runs)}
        eta = study_eta(runs_of, {n: cell_work(*cells[n], runs=None if n in runs_of else read_runs(out_dir / n))
                                  for n in cells}, jobs)
        log(f"[study] {number}/{len(cells)} protocols done in {format_seconds(time.perf_counter() - start)}; "
            f"the study's ETA {format_seconds(eta)}")
    write_claims(out_dir, rows, runs_of, log)
    # The choice is made among the protocols trained on the most images (their validation errors compare).
    most = max(scores.values(), key=_images)["training_images"]
    candidates = {n: v for n, v in scores.items() if v["training_images"] == most}
    best = min(candidates, key=lambda n: candidates[n]["dmf_val_error_left_right"])
    write_text(out_dir / "best_table1.csv", (out_dir / best / "table1.csv").read_text(encoding="utf-8"))
    write_json(out_dir / "choice.json", {"chosen": best, "rule": "lowest mean final validation error of DMF "
                                         "with both halves at 0 % damage over the seeds, among the protocols "
                                         f"trained on the most images ({most}); the test set chose nothing",
                                         "validation": scores, "tuned": tuned, "quick": quick})
    log(f"[study] wrote {out_dir}/claims.csv, claims.png, best_table1.csv ({best}, chosen on validation)")
    return rows


def write_claims(out_dir, rows, runs_of, log=print):
    """Write ``claims.csv``, ``claims.md``, ``claims.png`` and the modality dropout reports of
    ``rows`` (:func:`~dmf_numpy.experiments.claims.table1_claims`) and ``runs_of`` (each cell's
    :func:`read_runs`) into ``out_dir``."""
    out_dir = Path(out_dir)
    write_csv(out_dir / "claims.csv", [{k: csv_value(row[k], k) for k in COLUMNS} for row in rows], list(COLUMNS))
    write_text(out_dir / "claims.md", claims_markdown(rows))
    plot_claims(rows, out_dir / "claims.png")
    write_modality_dropout_report(runs_of, out_dir, log)


def render_claims(out_dir, *, grid=None, quick=False, parts=PARTS, log=print):
    """Write the claims' reports again (:func:`write_claims`, and the primary design's,
    :func:`~dmf_numpy.experiments.primary.run_primary` with ``train=False``, where
    ``out_dir/primary`` exists) from the histories of the finished runs under ``out_dir``,
    without training: after a change to the verdicts, say. Every cell of ``grid`` (default
    :data:`GRID`) must hold all its runs, finished; ``best_table1.csv`` and the grid's
    ``choice.json`` are left as they are. ``parts`` (some of :data:`PARTS`) limits it as
    :func:`run_study`'s does; asked for alone, the primary design must be there.

    Returns
    -------
    list of dict
        The rows of the grid's ``claims.csv`` (empty without the grid).
    """
    out_dir, rows, runs_of = Path(out_dir), [], {}
    if "primary" in parts and ((out_dir / "primary").is_dir() or "grid" not in parts):
        run_primary(out_dir / "primary", quick=quick, log=log, train=False)
    if "grid" not in parts:
        return []
    for protocol, scale in grid or GRID:
        name, spec = protocol_name(protocol, scale), QUICK if quick else SCALES[scale]
        if not (out_dir / name / "config.json").is_file():
            raise UserError(f"{out_dir / name}: no finished cell of the study here; run the study "
                            f"(dmf-numpy study --out {out_dir}) first")
        runs_of[name] = runs = read_runs(out_dir / name)
        damages = cell_damages(scale, quick)
        config = json.loads((out_dir / name / "config.json").read_text(encoding="utf-8"))["train_config"]
        expected = {(m, d, s) for m in MODELS for d in damages for s in range(spec["seeds"])}
        unfinished = sorted(k for k in expected if k not in runs or len(runs[k]) != config["epochs"])
        if unfinished or set(runs) != expected:
            raise UserError(f"{out_dir / name}: runs missing or unfinished ({unfinished[:3]} ...); run the study "
                            "to finish them")
        rows += table1_claims(runs, name, damages)
    write_claims(out_dir, rows, runs_of, log)
    log(f"[study] wrote {out_dir}/claims.csv, claims.md, claims.png from {len(runs_of)} cells' histories")
    return rows


def cell_work(settings, seeds, damages, runs=None):
    """The training work of one cell of the grid, per model, in image-epochs (the images one
    training runs over, times its epochs, summed over the cell's trainings), less the epochs
    that ``runs`` (what the cell's folder already holds, :func:`read_runs`) have done."""
    config = TrainConfig(**settings)
    images = min(config.subset or math.inf, MNIST_TRAIN_COUNT - config.n_val)
    done = {m: sum(len(history) for (model, _, _), history in (runs or {}).items() if model == m) for m in MODELS}
    return {m: (seeds * len(damages) * config.epochs - done[m]) * images for m in MODELS}


def study_eta(runs_of, work_of, jobs):
    """Seconds until the cells not in ``runs_of`` are done, ``jobs`` trainings at a time.

    ``work_of`` holds every cell's work (:func:`cell_work`): all of it for the cells in
    ``runs_of``, what is left of it for the others. Each model's pace is measured on the
    finished cells: the seconds their epochs took (as their histories recorded them, in
    whichever invocation trained them, so resumed cells count too) per image-epoch. A rough
    figure: an epoch's evaluation does not scale with the training images.
    """
    seconds = {m: sum(r["seconds"] for runs in runs_of.values() for (model, _, _), history in runs.items()
                      if model == m for r in history) for m in MODELS}
    pace = {m: seconds[m] / sum(work_of[n][m] for n in runs_of) for m in MODELS}
    return sum(work_of[n][m] * pace[m] for n in work_of if n not in runs_of for m in MODELS) / jobs


def _images(score):
    return math.inf if score["training_images"] == "all" else score["training_images"]


def write_modality_dropout_report(runs_of, out_dir, log):
    """``modality_dropout@<scale>.csv`` and ``.md``: what training with modality dropout changes, against
    the committed protocol at the same scale, per model, damage and test input (paired seeds).
    Written for each scale at which the grid holds both protocols."""
    for scale in SCALES:
        base, other = (runs_of.get(protocol_name(p, scale)) for p in ("paper", "modality_dropout"))
        if base is None or other is None:
            continue
        effects = protocol_effects(base, other, sorted({d for (_, d, _) in base} & {d for (_, d, _) in other}))
        write_csv(out_dir / f"modality_dropout@{scale}.csv",
                  [{k: csv_value(row[k], k) for k in EFFECT_COLUMNS} for row in effects], list(EFFECT_COLUMNS))
        write_text(out_dir / f"modality_dropout@{scale}.md", effects_markdown(
            effects, f"**Modality dropout ({PROTOCOLS['modality_dropout']['modality_dropout']:.0%} of the training "
                     f"samples lose x or y) against the committed protocol, at the scale {scale!r}.** Test error (%) "
                     "with modality dropout, then without; the change (with - without) and its 95 % interval over "
                     "paired seeds, each cell on its own (no correction for multiplicity). The committed protocol never sees a modality missing in training, yet its "
                     "'right only' and 'left only' tests zero-fill one."))
        log(f"[study] wrote {out_dir}/modality_dropout@{scale}.md")


def effects_markdown(effects, title):
    """A :func:`~dmf_numpy.experiments.claims.protocol_effects` table as Markdown: one row per
    (input, model), one column per damage level."""
    damages = sorted({row["damage"] for row in effects})
    lines = [title, "", "| input | model | " + " | ".join(f"{d:.0%} damage" for d in damages) + " |",
             "|---|---|" + "---|" * len(damages)]
    for condition in dict.fromkeys(row["condition"] for row in effects):
        for model in dict.fromkeys(row["model"] for row in effects):
            cells = []
            for damage in damages:
                row = next(r for r in effects if (r["condition"], r["model"], r["damage"]) ==
                           (condition, model, damage))
                interval = "" if math.isnan(row["ci_low"]) else f" [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]"
                cells.append(f"{row['other_mean']:.2f} vs {row['base_mean']:.2f}: {row['effect']:+.2f}{interval}")
            lines.append(f"| {condition} | {model.upper()} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def claims_markdown(rows):
    """``claims.md``: the families, each test-error claim's effect under every protocol side by
    side, then every claim of each protocol with its verdict."""
    protocols = list(dict.fromkeys(r["protocol"] for r in rows))
    lines = ["**The paper's claims, by protocol.** Each claim compares DMF with IMF or EMF over paired seeds: "
             "the effect is the mean difference (DMF - other; negative: DMF better), with its 95 % interval, "
             "the paired t-test's p-value, and that p-value adjusted by Holm's procedure within its family and "
             "protocol. The verdict rests on the adjusted p-value (below 0.05: *holds* when DMF is better, "
             "*contradicted* when it is worse; else *not supported (inconclusive)*). 'detectable' is the smallest "
             "effect the cell could detect with 80 % power at its seed count and observed spread, "
             "(t_0.975 + t_0.8) s_d / sqrt(n), before the correction.", "",
             "The families, declared before the verdicts:", ""]
    lines += [f"- {family}: {text}" for family, text in FAMILIES.items()]
    n_seeds = {r["protocol"]: r["n_seeds"] for r in rows}
    lines += ["", "**The protocols compared by their effects** (test error, DMF - other, and its 95 % interval; n: "
              "seeds). The protocols ran different numbers of seeds and claims: their verdict counts would not "
              "compare, their effects do. '-': a column the protocol did not train.", "",
              "| claim | " + " | ".join(f"{p} (n={n_seeds[p]})" for p in protocols) + " |",
              "|---|" + "---|" * len(protocols)]
    effect = {(r["claim"], r["protocol"]): r for r in rows if "(test error)" in r["claim"]}
    for claim in dict.fromkeys(c for c, _ in effect):
        cells = ["-" if (claim, p) not in effect else _effect_cell(effect[(claim, p)]) for p in protocols]
        lines.append(f"| {claim.replace(' (test error)', '')} | " + " | ".join(cells) + " |")
    for protocol in protocols:
        lines += ["", f"**{protocol}**", "",
                  "| claim | family | verdict | effect | 95 % interval | p | p (Holm) | detectable |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in (r for r in rows if r["protocol"] == protocol):
            interval = "-" if math.isnan(r["ci_low"]) else f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]"
            mde = "-" if math.isnan(r["min_detectable_effect"]) else f"{r['min_detectable_effect']:.2f}"
            lines.append(f"| {r['claim']} | {r['family']} | {r['verdict']} | {r['effect']:.2f} | {interval} | "
                         f"{format_p(r['p_value'])} | {format_p(r['p_holm'])} | {mde} |")
    return "\n".join(lines) + "\n"


def _effect_cell(row):
    interval = "" if math.isnan(row["ci_low"]) else f" [{row['ci_low']:+.2f}, {row['ci_high']:+.2f}]"
    return f"{row['effect']:+.2f}{interval}"


def plot_claims(rows, path):
    """The effect of every test-error claim with its 95 % interval, one panel per input, the
    protocols side by side; below zero, DMF is better."""
    protocols = list(dict.fromkeys(r["protocol"] for r in rows))
    fig = new_figure((12, 7))
    axes = fig.subplots(2, 1, sharex=True)
    for ax, condition in zip(axes, ("left+right", "right")):
        cells = [(other.upper(), f"{d:.0%}") for d in DAMAGES for other in ("imf", "emf")]
        labels = [f"{other} {damage}" for other, damage in cells]
        # a claim's x position: its cell's, whatever damage levels a protocol ran
        position = {f"DMF < {other}, {condition}, {damage} damage": i for i, (other, damage) in enumerate(cells)}
        for k, protocol in enumerate(protocols):
            picked = [r for r in rows if r["protocol"] == protocol and r["claim"].split(" (")[0] in position]
            x = np.array([position[r["claim"].split(" (")[0]] for r in picked]) + (k - (len(protocols) - 1) / 2) * 0.12
            effect = np.array([r["effect"] for r in picked])
            low, high = np.array([r["ci_low"] for r in picked]), np.array([r["ci_high"] for r in picked])
            ax.errorbar(x, effect, yerr=[np.nan_to_num(effect - low), np.nan_to_num(high - effect)], fmt="o",
                        capsize=2, label=protocol)
        ax.axhline(0, color="0.4", linewidth=0.8)
        ax.set_ylabel(f"DMF - other, test error (points)\n{condition}")
        ax.set_xticks(np.arange(len(labels)), labels)
    axes[0].legend(fontsize=7, ncol=3)
    axes[0].set_title("Is DMF's test error lower? The effect and its 95 % interval over seeds, per protocol")
    save_figure(fig, path, dpi=100)
