"""The paper's toy experiment (Sec. 3.1): Table 1 and Fig. 4 from one call.

EMF, IMF and DMF are trained with the same settings on the MNIST halves at 0, 30, 50 and 70 %
damage of the right half, for several seeds; the test error at the end of the fixed schedule is
reported for the "left+right" and "right" inputs (and "left", beyond the paper) as mean ± std
over seeds, next to the paper's numbers. :func:`run_table1` writes, into one folder:

- ``table1.md`` and ``table1.csv``: the table, the best model per column marked;
- ``fig4.png``: training loss and test accuracy per epoch, DMF vs IMF, per damage level;
- ``runs/<model>_damage<p>_seed<s>/``: each run's ``history.json``/``.csv``, config and checkpoint;
- ``config.json``: everything needed to rerun it, with the time it took.

Interrupted? Run the same command again: finished runs are skipped, a half-finished one resumes
from its last epoch. A folder whose runs are all finished is re-rendered from their histories
without training, even if their checkpoints are gone (the committed ``results/`` holds none); a
run folder whose history has lost its checkpoint before the end is refused before anything is
trained, never trained over.

At the end the table is compared, cell by cell, with another one (by default the committed
``results/table1.csv`` of the checkout this package runs from): :func:`compare_tables` says for
each cell whether the difference is within seed noise (``comparison.md``).
"""

from __future__ import annotations

import csv
import json
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
from pathlib import Path

import numpy as np

from ..core.errors import UserError
from ..datasets.mnist import load_mnist
from ..files import run_lock, write_csv, write_json, write_text
from ..training.checkpoint import changed_settings
from ..training.loop import format_seconds, refuse_existing_run
from .capacity import matched_settings
from .common import machine_description, machine_record, mean_std, new_figure, save_figure
from .paper import PAPER_TABLE1
from .train_run import DEFAULTS, TrainConfig, finished_run, refuse_other_settings, run

MODELS = ("emf", "imf", "dmf")
DAMAGES = (0.0, 0.3, 0.5, 0.7)
#: The input conditions of the table: the paper's two rows, then one beyond the paper.
TABLE_CONDITIONS = ("left+right", "right", "left")
CONDITION_LABELS = {"left+right": "left+right", "right": "right only",
                    "left": "left only (beyond the paper)"}
#: ``--quick``: a smoke test of the whole pipeline on a small subset.
QUICK = {"subset": 3000, "epochs": 3}
#: The committed table: ``results/table1.csv`` of the checkout this package runs from, else the
#: copy the package carries (``data/table1.csv``, kept identical by the tests).
COMMITTED_TABLE = Path(__file__).resolve().parents[2] / "results" / "table1.csv"
PACKAGED_TABLE = Path(__file__).resolve().parent / "data" / "table1.csv"


def _run_one(job):
    """One training of the table (in a worker process with ``--jobs`` above 1): ``(index, result)``."""
    index, config_dict, data_dir, out_dir, command = job
    result = run(TrainConfig(**config_dict), data_dir=data_dir, out_dir=out_dir, resume=True,
                 log=lambda line: print(line, flush=True), command=command)
    del result["model"]  # the checkpoint holds it; only the numbers travel back
    return index, result


def _ignore_interrupts():
    """Worker initializer: Ctrl-C is the parent's to handle. It stops the workers with SIGTERM,
    which a worker turns into an exit that still runs its clean-up (locks, temporary files).
    A watchdog stops the worker the same way, quietly, once its parent is gone (killed with -9,
    say), instead of training on for nobody."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    threading.Thread(target=_stop_when_orphaned, args=(os.getppid(),), daemon=True).start()


def _stop_when_orphaned(parent, every=1.0):
    """Poll the parent's pid; when this process has another parent, silence its output (there is
    no one left to read it) and send itself SIGTERM."""
    while os.getppid() == parent:
        time.sleep(every)
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in (1, 2):
        os.dup2(devnull, fd)
    os.kill(os.getpid(), signal.SIGTERM)


def run_trainings(jobs, n_workers, log, label="table 1", whole="the table"):
    """Run training jobs, ``n_workers`` processes at a time; results in job order.

    Each job is ``(index, config_dict, data_dir, out_dir, command)``: one
    :func:`~dmf_numpy.experiments.train_run.run`, resumed if its folder holds a checkpoint.
    After each training, one line (prefixed ``[label]``) says how many are done and ``whole``'s
    ETA. On Ctrl-C the workers are stopped at once; every finished epoch is in its checkpoint.
    """
    results, start = [None] * len(jobs), time.perf_counter()

    def done(index, result):
        results[index] = result
        finished = sum(r is not None for r in results)
        elapsed = time.perf_counter() - start
        eta = elapsed / finished * (len(jobs) - finished)
        log(f"[{label}] {finished}/{len(jobs)} trainings done in {format_seconds(elapsed)}; "
            f"{whole}'s ETA {format_seconds(eta)}")

    if n_workers <= 1:
        for job in jobs:
            done(*_run_one(job))
        return results
    threads = str(worker_threads(n_workers))
    saved = {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    os.environ.update({k: threads for k in saved})
    context = multiprocessing.get_context("spawn")  # fresh interpreters read the thread limits
    pool = context.Pool(n_workers, initializer=_ignore_interrupts)
    try:
        for index, result in pool.imap_unordered(_run_one, jobs):
            done(index, result)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return results


def worker_threads(n_workers):
    """The BLAS threads each of ``n_workers`` parallel trainings gets: an equal share of the
    cores (:func:`run_trainings`); None for one training at a time (the library's default)."""
    return max(1, (os.cpu_count() or 1) // n_workers) if n_workers > 1 else None


def read_finished(run_dirs, configs):
    """``(results, todo)``: each finished run's result, read from its history without training
    (None for the others), and the indices of the runs still to train. A run whose history stops
    early and has lost its checkpoint is refused here, before anything is trained."""
    results = [finished_run(d, c) for d, c in zip(run_dirs, configs)]
    todo = [k for k, r in enumerate(results) if r is None]
    for k in todo:
        refuse_existing_run(run_dirs[k], resume=True)
    return results, todo


def train_unfinished(results, todo, configs, run_dirs, commands, data_dir, jobs, log, **labels):
    """Train the runs ``todo`` (:func:`run_trainings`, ``jobs`` at a time; ``labels`` its
    ``label`` and ``whole``) and put their results into ``results``."""
    jobs_list = [(j, configs[k].to_dict(), data_dir, run_dirs[k], commands[k]) for j, k in enumerate(todo)]
    for k, result in zip(todo, run_trainings(jobs_list, jobs, log, **labels)):
        results[k] = result


def summarize(results):
    """Mean and std over seeds of the final test error.

    Returns
    -------
    dict
        ``(condition, model, damage) -> (mean, std, n_seeds)``; std uses ``ddof=1`` (0 for one seed).
    """
    errors = {}
    for r in results:
        c = r["config"]
        for condition, value in r["final_test_error"].items():
            errors.setdefault((condition, c["model"], c["damage"]), []).append(value)
    return {key: (*mean_std(v), len(v)) for key, v in errors.items()}


def _best_models(summary, condition, damage):
    means = {m: summary[(condition, m, damage)][0] for m in MODELS}
    best = min(means.values())
    return {m for m, v in means.items() if v == best}


def summary_damages(summary):
    """The damage levels a summary holds, in increasing order (all of :data:`DAMAGES`, or some)."""
    return sorted({damage for (_, _, damage) in summary})


def paper_error(condition, model, damage):
    """The paper's Table 1 figure for a cell, or None (no such row in the paper)."""
    paper = PAPER_TABLE1.get((condition, model))
    return paper[DAMAGES.index(damage)] if paper else None


def table1_rows(summary):
    """One CSV row per (condition, model, damage), with the paper's figure and a best flag."""
    rows = []
    for condition in TABLE_CONDITIONS:
        for model in MODELS:
            for damage in summary_damages(summary):
                mean, std, n = summary[(condition, model, damage)]
                paper = paper_error(condition, model, damage)
                rows.append({"condition": condition, "model": model.upper(), "damage": damage,
                             "error_mean": round(mean, 3), "error_std": round(std, 3), "n_seeds": n,
                             "paper_error": "" if paper is None else paper,
                             "best": model in _best_models(summary, condition, damage)})
    return rows


def table1_markdown(summary, n_seeds, subtitle=""):
    """Table 1 as Markdown: measured mean ± std, the paper's figure in parentheses, best in bold."""
    damages = summary_damages(summary)
    header = "| input | model | " + " | ".join(f"{d:.0%} damage" for d in damages) + " |"
    lines = [f"**Table 1.** Test error (%) on MNIST halves, mean ± std over {n_seeds} seed(s) "
             f"at the end of the fixed schedule; the paper's figure in parentheses; the best "
             f"measured model per column in **bold**.{subtitle}", "", header,
             "|" + "---|" * (2 + len(damages))]
    for condition in TABLE_CONDITIONS:
        for model in MODELS:
            cells = []
            for damage in damages:
                mean, std, n = summary[(condition, model, damage)]
                cell = f"{mean:.2f} ± {std:.2f}" if n > 1 else f"{mean:.2f}"
                if model in _best_models(summary, condition, damage):
                    cell = f"**{cell}**"
                paper = paper_error(condition, model, damage)
                cells.append(cell if paper is None else f"{cell} ({paper:.2f})")
            lines.append(f"| {CONDITION_LABELS[condition]} | {model.upper()} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_fig4(results, path):
    """Fig. 4: training loss (top) and left+right test accuracy (bottom) per epoch, DMF vs IMF,
    one column per damage level; mean over seeds, the band spans the seeds' min to max."""
    damages = sorted({r["config"]["damage"] for r in results})
    fig = new_figure((4 * len(damages), 6.5))
    axes = fig.subplots(2, len(damages), sharex=True, squeeze=False)
    colors = {"dmf": "tab:red", "imf": "tab:blue"}
    for col, damage in enumerate(damages):
        for model, color in colors.items():
            runs = [r["history"] for r in results
                    if r["config"]["model"] == model and r["config"]["damage"] == damage]
            epochs = np.arange(1, len(runs[0]) + 1)
            curves = {
                "loss": np.array([[e["train_loss"] for e in h] for h in runs]),
                "acc": np.array([[100 - e["test_error"]["left+right"] for e in h] for h in runs]),
            }
            for row, key in enumerate(("loss", "acc")):
                ax = axes[row, col]
                ax.plot(epochs, curves[key].mean(axis=0), color=color, label=model.upper(), marker=".")
                ax.fill_between(epochs, curves[key].min(axis=0), curves[key].max(axis=0),
                                color=color, alpha=0.2, linewidth=0)
        axes[0, col].set_title(f"right half {damage:.0%} damaged")
        axes[0, col].set_yscale("log")
        axes[1, col].set_xlabel("epoch")
    axes[0, 0].set_ylabel("training loss (cross-entropy)")
    axes[1, 0].set_ylabel("test accuracy, left+right (%)")
    axes[0, 0].legend()
    save_figure(fig, path, dpi=110)


def run_table1(out_dir, *, seeds=3, jobs=1, quick=False, data_dir=None, command=None, log=print,
               damages=DAMAGES, compare="committed", capacity_matched=False, **overrides):
    """Train the 12 × ``seeds`` runs of Table 1 and write the table, figure and histories.

    Runs already finished in ``out_dir/runs/`` (a complete ``history.json``) are read, not
    trained, with or without their checkpoints; half-finished ones resume from their checkpoint.

    Parameters
    ----------
    out_dir : str or Path
    seeds : int
        Seeds 0 .. seeds-1; each fixes initialization, validation split, damage masks, shuffling.
    jobs : int
        Trainings run in parallel processes (the cores are shared out among them).
    quick : bool
        Smoke test: a subset of the data and few epochs (:data:`QUICK`).
    data_dir : str or Path, optional
        Where MNIST is; see :func:`dmf_numpy.datasets.mnist.load_mnist`.
    command : str, optional
        The command line that asked for this, recorded in ``config.json``.
    log : callable
        Receives progress lines.
    damages : sequence of float
        The columns to train: all of :data:`DAMAGES` (the paper's), or some of them.
    compare : "committed", str or Path, or None
        A ``table1.csv`` to compare the new table with, cell by cell (:func:`compare_tables`),
        read before any training; ``"committed"``: :data:`COMMITTED_TABLE` (else
        :data:`PACKAGED_TABLE`), unless ``out_dir`` is the committed results' folder, and not
        with ``quick``; None: no comparison.
    capacity_matched : bool
        Widen EMF's and IMF's hidden layers to DMF's parameter count, within 2 %
        (:func:`~dmf_numpy.experiments.capacity.matched_settings`; ``config.json`` records each
        model's sizes).
    **overrides
        :class:`~dmf_numpy.experiments.train_run.TrainConfig` fields applied to every run (e.g. ``epochs``).

    Returns
    -------
    dict
        ``(condition, model, damage) -> (mean, std, n_seeds)``, as :func:`summarize`.

    Raises
    ------
    UserError
        On seeds or jobs below 1, a ``compare`` file that is not a Table 1 CSV, or if
        ``out_dir`` already holds a Table 1 run with other training settings, or a run folder
        whose history lost its checkpoint before the end (:class:`CheckpointError`); all
        checked before anything is written.
    FolderLocked
        If another run is writing into ``out_dir`` (:func:`dmf_numpy.files.run_lock`).
    """
    if seeds < 1 or jobs < 1:
        raise UserError(f"seeds and jobs: expected positive integers, got {seeds} and {jobs}")
    damages = sorted(float(d) for d in damages)
    if not damages or not set(damages) <= set(DAMAGES) or len(set(damages)) != len(damages):
        raise UserError(f"damages: expected some of the paper's levels {list(DAMAGES)}, each once, "
                        f"got {list(damages)}")
    out_dir = Path(out_dir)
    settings = {**(QUICK if quick else {}), **overrides}
    sizes = {m: matched_settings(m, settings) if capacity_matched else {} for m in MODELS}
    configs = [TrainConfig(model=m, damage=d, seed=s, **{**settings, **sizes[m]})
               for s in range(seeds) for d in damages for m in MODELS]
    # DMF's settings stand for the table's; with capacity_matched, config.json adds each model's sizes
    base = {k: v for k, v in configs[-1].to_dict().items() if k not in ("model", "damage", "seed")}
    if capacity_matched:
        base["capacity_matched"] = {m: {k: list(v) for k, v in sizes[m].items()} for m in MODELS}
    command = command or f"run_table1({str(out_dir)!r})"
    with run_lock(out_dir, command):
        return _run_table1(out_dir, configs, base, seeds, damages, jobs, quick, data_dir, command, log, compare)


def _run_table1(out_dir, configs, base, seeds, damages, jobs, quick, data_dir, command, log, compare):
    # its runs would be resumed or mixed into this table
    refuse_other_settings(out_dir / "config.json", base, key="train_config", kind="Table 1 ")
    reference = _reference_table(compare, out_dir, quick, base)
    run_dirs = [out_dir / "runs" / c.run_name for c in configs]
    results, todo = read_finished(run_dirs, configs)
    run_info = {
        "command": command,
        "seeds": list(range(seeds)), "damages": damages, "models": list(MODELS),
        "quick": quick, "jobs": jobs, "train_config": base,
        "machine": machine_description(), "reproducibility": machine_record(worker_threads(jobs)),
    }
    start = time.perf_counter()
    if todo:
        load_mnist(data_dir)  # find (or download) the data once, before starting the workers
        write_json(out_dir / "config.json", {**run_info, "status": "running"})
        finished = f"; {len(configs) - len(todo)} already finished, read from their histories" if len(todo) < len(
            configs) else ""
        log(f"Table 1: {len(configs)} trainings ({seeds} seed(s) × {len(damages)} damage levels × "
            f"EMF, IMF, DMF), {base['epochs']} epochs each, {jobs} at a time, into {out_dir}/{finished}")
        try:
            train_unfinished(results, todo, configs, run_dirs, [f"{command} ({c.run_name})" for c in configs],
                             data_dir, jobs, log)
        except KeyboardInterrupt:
            log(f"[table 1] interrupted; every finished epoch is saved in {out_dir}/runs/: "
                "resume with the same command")
            raise
    else:
        log(f"Table 1: all {len(configs)} runs in {out_dir}/runs/ are finished: the table and figure are "
            "rendered from their histories, nothing is trained")
    seconds = time.perf_counter() - start

    summary = summarize(results)
    subtitle = f" Quick smoke test ({QUICK}): not comparable with the paper." if quick else ""
    write_text(out_dir / "table1.md", table1_markdown(summary, seeds, subtitle))
    write_csv(out_dir / "table1.csv", table1_rows(summary))
    plot_fig4(results, out_dir / "fig4.png")
    written = "table1.md, table1.csv, fig4.png"
    if reference is not None:
        path, other, note = reference
        comparison = compare_tables(summary, other)
        write_text(out_dir / "comparison.md", comparison_markdown(comparison, path, note))
        written += ", comparison.md"
        for line in comparison_lines(comparison, path, note, out_dir / "comparison.md"):
            log(line)
    previous = _read_json(out_dir / "config.json")
    same_table = isinstance(previous, dict) and previous.get("status") == "done" and all(
        previous.get(k) == run_info[k] for k in ("seeds", "damages", "models"))
    if todo or not same_table:
        per_seed = seconds / seeds
        # Wall time of this invocation (runs finished by an earlier, interrupted one are not counted),
        # and the seconds every epoch of every training took, whenever it ran (from the histories).
        training_seconds = sum(record["seconds"] for r in results for record in r["history"])
        write_json(out_dir / "config.json", {**run_info, "status": "done", "total_seconds": round(seconds, 1),
                                             "seconds_per_seed": round(per_seed, 1),
                                             "training_seconds_all_invocations": round(training_seconds, 1)})
        written += ", config.json"
    # else: nothing was trained, and config.json still records how this table was made
    if todo:
        log(f"done in {seconds / 60:.1f} min ({seconds / seeds / 60:.1f} min per seed); wrote "
            f"{out_dir}/{written} and runs/")
    else:
        log(f"done, nothing trained; wrote {out_dir}/{written}")
    return summary


def _read_json(path):
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------------------------
# Comparing two tables: within seed noise or not
# --------------------------------------------------------------------------------------------

#: A difference of means is within seed noise when it is at most this many standard errors.
NOISE_SE = 2


def read_table_csv(path, what="compare"):
    """A ``table1.csv`` (:func:`table1_rows`) as a summary: ``(condition, model, damage) -> (mean, std, n)``.

    Raises
    ------
    UserError
        A one-line message naming ``what`` and ``path`` if the file cannot be read or is not a
        Table 1 CSV.
    """
    path = Path(path)
    fix = "give the table1.csv written by dmf-numpy table1, or none"
    try:
        with path.open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise UserError(f"{what} {path}: cannot be read ({getattr(err, 'strerror', None) or err}); {fix}") from None
    summary = {}
    for line, row in enumerate(rows, 2):
        try:
            key = (row["condition"], row["model"].lower(), float(row["damage"]))
            value = (float(row["error_mean"]), float(row["error_std"]), int(row["n_seeds"]))
        except (KeyError, TypeError, ValueError, AttributeError):
            value = None
        if value is None or not all(math.isfinite(v) for v in value[:2]) or value[1] < 0 or value[2] < 1:
            raise UserError(f"{what} {path}: line {line} is not a Table 1 row (condition, model, damage, "
                            f"error_mean, error_std, n_seeds); {fix}")
        summary[key] = value
    if not summary:
        raise UserError(f"{what} {path}: no rows; {fix}")
    return summary


def _reference_table(compare, out_dir, quick, base):
    """``(path, summary, note)`` of the table to compare with, or None; read before any training."""
    if compare is None:
        return None
    committed = isinstance(compare, str) and compare == "committed"
    if committed:
        if quick or COMMITTED_TABLE.parent.resolve() == out_dir.resolve():  # not the table with itself
            return None
        path = COMMITTED_TABLE if COMMITTED_TABLE.is_file() else PACKAGED_TABLE
        if not path.is_file():
            return None
    else:
        path = Path(compare)
    summary = read_table_csv(path, "the committed table" if committed else "--compare")
    note = ""
    # the settings it was made with: its folder's config.json (the packaged copy: the defaults')
    saved = _read_json(COMMITTED_TABLE.parent / "config.json" if committed else path.parent / "config.json")
    if committed and not isinstance(saved, dict):
        saved = {"train_config": json.loads(json.dumps(DEFAULTS))}  # as a config.json holds it
    if isinstance(saved, dict) and isinstance(saved.get("train_config"), dict):
        try:
            changed = changed_settings(saved["train_config"], base, DEFAULTS)
        except (ValueError, TypeError, KeyError, AttributeError):
            changed = []
        if changed or saved.get("quick"):
            what = ", ".join(changed) or "quick"
            note = f"{path} was made with other settings ({what} differ): its differences are not seed noise alone"
    return path, summary, note


def compare_tables(summary, other):
    """Compare two tables cell by cell: is each difference of means within seed noise?

    The rule, for means m_1, m_2 over n_1, n_2 seeds with standard deviations
    s_1, s_2: the difference is within seed noise when
    |m_1 - m_2| ≤ 2 √(s_1^2/n_1 + s_2^2/n_2), twice its standard error (about
    a 95 % band for a difference that is noise alone; with 3 seeds a side, a rough one). A table
    of one seed has no std of its own and borrows the other's; two tables of one seed each give
    no estimate.

    Returns
    -------
    dict
        ``(condition, model, damage) -> dict`` with ``mean``, ``other`` (the other table's
        mean), ``diff``, ``bound`` (None: no estimate) and ``within`` (True, False, or None
        without an estimate), for every cell of ``summary`` that ``other`` holds too.
    """
    cells = {}
    for key, (m1, s1, n1) in summary.items():
        if key not in other:
            continue
        m2, s2, n2 = other[key]
        if n1 < 2 and n2 < 2:
            bound = None
        else:
            s1, s2 = (s1 if n1 > 1 else s2), (s2 if n2 > 1 else s1)
            bound = NOISE_SE * math.sqrt(s1 ** 2 / n1 + s2 ** 2 / n2)
        diff = m1 - m2
        within = None if bound is None else abs(diff) <= bound + 1e-3  # the CSV's rounding
        cells[key] = {"mean": m1, "other": m2, "diff": diff, "bound": bound, "within": within}
    return cells


def _cell_text(cell):
    if cell is None:
        return "–"
    if cell["bound"] is None:
        return f"{round(cell['diff'], 2) + 0.0:+.2f} (one seed each: no estimate)"
    text = f"{round(cell['diff'], 2) + 0.0:+.2f} (±{cell['bound']:.2f})"  # + 0.0: no "-0.00"
    return f"{text} noise" if cell["within"] else f"**{text} beyond**"


def comparison_markdown(comparison, path, note=""):
    """The comparison as Markdown: one cell per table cell, its difference, bound and verdict."""
    damages = sorted({d for (_, _, d) in comparison})
    lines = [f"**Compared with** `{path}`: this table's mean test error minus that table's (points), "
             "and in parentheses twice the standard error of the difference, "
             f"{NOISE_SE}·√(s₁²/n₁ + s₂²/n₂) from the two tables' std over seeds; *noise* when the "
             "difference is within it, **beyond** when not.",
             *(["", f"Note: {note}."] if note else []), "",
             "| input | model | " + " | ".join(f"{d:.0%} damage" for d in damages) + " |",
             "|" + "---|" * (2 + len(damages))]
    for condition in TABLE_CONDITIONS:
        for model in MODELS:
            if not any((condition, model, d) in comparison for d in damages):
                continue
            cells = [_cell_text(comparison.get((condition, model, d))) for d in damages]
            lines.append(f"| {CONDITION_LABELS[condition]} | {model.upper()} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def comparison_lines(comparison, path, note="", where=None):
    """What ``table1`` says at the end about the comparison: a count, then each cell beyond noise
    (``where``: the file that holds every cell's verdict, named in the first line)."""
    judged = [c for c in comparison.values() if c["within"] is not None]
    beyond = {k: c for k, c in comparison.items() if c["within"] is False}
    lines = [f"[table 1] compared with {path}: {len(judged) - len(beyond)} of {len(comparison)} cells within "
             f"seed noise (|difference| ≤ {NOISE_SE} standard errors)"
             + (f", {len(comparison) - len(judged)} without an estimate (one seed each)" if len(judged) < len(
                 comparison) else "") + (f"; cell by cell in {where}" if where else "")]
    if note:
        lines.append(f"[table 1] note: {note}")
    for (condition, model, damage), c in sorted(beyond.items(), key=lambda kc: -abs(kc[1]["diff"])):
        lines.append(f"[table 1] beyond noise: {CONDITION_LABELS[condition]} {model.upper()} {damage:.0%} damage: "
                     f"{c['mean']:.2f} against {c['other']:.2f} ({c['diff']:+.2f}, bound ±{c['bound']:.2f})")
    return lines
