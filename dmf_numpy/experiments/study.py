"""Which of the paper's claims hold, and under which protocol: Table 1 under a declared grid of
protocols, a verdict on every claim from paired seeds, and the protocol chosen on validation.

Each protocol is a set of :class:`~dmf_numpy.experiments.train_run.TrainConfig` overrides of the
committed Table 1 protocol, run as a whole Table 1 (:func:`~dmf_numpy.experiments.table1.run_table1`)
into ``out_dir/<protocol>/`` (its ``table1.csv``, ``table1.md``, ``fig4.png`` and runs). Then:

- ``claims.csv``: every claim of Table 1 and Fig. 4 under every protocol, with the effect, its
  95 % confidence interval, the paired t-test's p-value and a verdict
  (:func:`dmf_numpy.experiments.claims.table1_claims`);
- ``claims.md``: the verdicts counted per protocol, and every claim as a table;
- ``claims.png``: the effects and their intervals, by protocol;
- ``best_table1.csv``: the Table 1 of the protocol chosen on the *validation* split (the lowest
  mean validation error of DMF with both halves over the damage levels and seeds, among the
  protocols run at the scale most of them ran at); ``choice.json`` says why. The test set
  chooses nothing.

The grid (:data:`PROTOCOLS`) and its scale (:data:`SCALES`) are declared here, with the reductions
the compute budget asks for. Interrupted? Run the same command again: every finished epoch of
every training is kept.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np

from ..files import write_csv, write_json, write_text
from ..training.loop import format_seconds
from .claims import COLUMNS, table1_claims
from .common import holds_output_folder, new_figure, save_figure
from .table1 import DAMAGES, run_table1

#: The protocols: overrides of the committed Table 1 protocol (Glorot initialization, no
#: pretraining, damage in training and test images, both modalities in training).
PROTOCOLS = {
    "paper": {},
    "pretrained": {"pretrain": 5},  # (a) 5 epochs of generative pretraining of the encoder, then fine-tuning
    "test_damage": {"damage_on": "test"},  # (b) intact training images, damaged test images
    "fan_in": {"init": "fan_in"},  # (c) uniform in +-1/sqrt(fan_in) per block, biases too
    "modality_dropout": {"modality_dropout": 0.3},  # beyond the paper: 30 % of the samples lose x or y
}

#: The scale of the full study, on 2 cores: the reference protocol at the paper's scale with 5
#: seeds (d); the secondary axes on 10,000 training images and 10 epochs, 3 seeds each, which is
#: a tenth of the cost of a training at full scale. The reference protocol is also run at the
#: reduced scale, so that every protocol is compared with it at the scale it ran at.
SCALES = {
    "full": {"seeds": 5, "settings": {}},
    "reduced": {"seeds": 3, "settings": {"subset": 10_000, "epochs": 10}},
}
#: Which protocols run at which scale (``paper@full`` is the headline).
GRID = [("paper", "full"), ("paper", "reduced"), ("pretrained", "reduced"), ("test_damage", "reduced"),
        ("fan_in", "reduced"), ("modality_dropout", "reduced")]
#: ``--quick``: every cell of the grid on a few hundred images, for the tests.
QUICK = {"seeds": 2, "settings": {"subset": 300, "epochs": 2}, "pretrain": 1}


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
    """Mean final validation error (%) of DMF with both halves, over the damage levels and seeds."""
    return float(np.mean([h[-1]["val_error"]["left+right"] for (m, _, _), h in runs.items() if m == "dmf"]))


@holds_output_folder
def run_study(out_dir, *, quick=False, jobs=1, data_dir=None, grid=None, log=print):
    """Run the grid of protocols, then write the claims, their figure and the best protocol's table.

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
        A part of :data:`GRID` (default: all of it).
    log : callable

    Returns
    -------
    list of dict
        The rows of ``claims.csv``.
    """
    grid = list(grid or GRID)
    unknown = [cell for cell in grid if cell[0] not in PROTOCOLS or cell[1] not in SCALES]
    if unknown:
        raise ValueError(f"grid: unknown protocol or scale {unknown}; protocols {sorted(PROTOCOLS)}, "
                         f"scales {sorted(SCALES)}")
    out_dir, start, rows, scores = Path(out_dir), time.perf_counter(), [], {}
    for number, (protocol, scale) in enumerate(grid, 1):
        name = protocol_name(protocol, scale)
        settings = {**(QUICK if quick else SCALES[scale])["settings"], **PROTOCOLS[protocol]}
        if quick and "pretrain" in settings:
            settings["pretrain"] = QUICK["pretrain"]
        seeds = (QUICK if quick else SCALES[scale])["seeds"]
        log(f"[study] {name}: {settings or 'the committed protocol'}, {seeds} seeds")
        run_table1(out_dir / name, seeds=seeds, jobs=jobs, data_dir=data_dir, command=f"study {name}", log=log,
                   **settings)
        runs = read_runs(out_dir / name)
        rows += table1_claims(runs, name, DAMAGES)
        scores[name] = {"scale": scale, "dmf_val_error_left_right": validation_score(runs)}
        elapsed = time.perf_counter() - start
        log(f"[study] {number}/{len(grid)} protocols done in {format_seconds(elapsed)}; the study's ETA "
            f"{format_seconds(elapsed / number * (len(grid) - number))}")
    write_csv(out_dir / "claims.csv", [{k: _rounded(row[k]) for k in COLUMNS} for row in rows], list(COLUMNS))
    write_text(out_dir / "claims.md", claims_markdown(rows))
    plot_claims(rows, out_dir / "claims.png")
    # The choice is made among the protocols that ran at one scale, the scale most of them ran at.
    scale = max(SCALES, key=lambda s: sum(v["scale"] == s for v in scores.values()))
    candidates = {n: v for n, v in scores.items() if v["scale"] == scale}
    best = min(candidates, key=lambda n: candidates[n]["dmf_val_error_left_right"])
    write_text(out_dir / "best_table1.csv", (out_dir / best / "table1.csv").read_text(encoding="utf-8"))
    write_json(out_dir / "choice.json", {"chosen": best, "rule": "lowest mean final validation error of DMF, "
                                         "left+right, over the damage levels and seeds, among the protocols run at "
                                         f"the scale {scale!r}; the test set chose nothing", "validation": scores,
                                         "quick": quick})
    log(f"[study] wrote {out_dir}/claims.csv, claims.png, best_table1.csv ({best}, chosen on validation)")
    return rows


def claims_markdown(rows):
    """``claims.md``: the verdicts counted per protocol, then every claim of each protocol."""
    protocols = list(dict.fromkeys(r["protocol"] for r in rows))
    verdicts = ("holds", "does not hold", "inconclusive")
    lines = ["**The paper's claims, by protocol.** Each claim compares DMF with IMF or EMF over paired seeds: "
             "the effect is the mean difference (DMF - other; negative: DMF better), with its 95 % interval and "
             "the paired t-test's p-value.", "",
             "| protocol | " + " | ".join(verdicts) + " |", "|---|" + "---|" * len(verdicts)]
    for protocol in protocols:
        mine = [r["verdict"] for r in rows if r["protocol"] == protocol]
        lines.append(f"| {protocol} | " + " | ".join(str(mine.count(v)) for v in verdicts) + " |")
    for protocol in protocols:
        lines += ["", f"**{protocol}**", "", "| claim | verdict | effect | 95 % interval | p |",
                  "|---|---|---|---|---|"]
        for r in (r for r in rows if r["protocol"] == protocol):
            interval = "-" if math.isnan(r["ci_low"]) else f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]"
            p_value = "-" if math.isnan(r["p_value"]) else f"{r['p_value']:.3f}"
            lines.append(f"| {r['claim']} | {r['verdict']} | {r['effect']:.2f} | {interval} | {p_value} |")
    return "\n".join(lines) + "\n"


def _rounded(value):
    return round(value, 4) if isinstance(value, float) and math.isfinite(value) else value


def plot_claims(rows, path):
    """The effect of every test-error claim with its 95 % interval, one panel per input, the
    protocols side by side; below zero, DMF is better."""
    protocols = list(dict.fromkeys(r["protocol"] for r in rows))
    fig = new_figure((12, 7))
    axes = fig.subplots(2, 1, sharex=True)
    for ax, condition in zip(axes, ("left+right", "right")):
        labels = [f"{other.upper()} {d:.0%}" for d in DAMAGES for other in ("imf", "emf")]
        for k, protocol in enumerate(protocols):
            picked = [r for r in rows if r["protocol"] == protocol and f", {condition}, " in r["claim"]]
            x = np.arange(len(picked)) + (k - (len(protocols) - 1) / 2) * 0.12
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
