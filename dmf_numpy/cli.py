"""The ``dmf-numpy`` command line (also ``python -m dmf_numpy``): argument parsing and printing.

Each subcommand is a function ``cmd_<name>(args) -> int`` registered in :func:`build_parser`;
the work itself is done by :mod:`dmf_numpy.experiments` and :mod:`dmf_numpy.core`. Choices and
defaults are read from the package's constants (``MODELS``, ``OPTIMIZERS``, ``DAMAGE_KINDS``,
``INITS``, :class:`~dmf_numpy.experiments.train_run.TrainConfig`, ``PAPER_SIZES``), never
written here a second time.

Errors. A mistake in what was asked is a :class:`~dmf_numpy.core.errors.UserError` (every
error class of the package for one derives from it: a refused checkpoint, bad data, a folder
held by another run, a bad submission): it ends in one line on stderr and exit 2. So do two
failures of the user's environment rather than of the program: an ``OSError`` (a disk full,
a folder without permission, a file that vanished; a failed write says how to continue) and a
``MemoryError``. Anything else is a bug in dmf-numpy, however plain its type (a ``ValueError``
from NumPy on a shape mismatch, say): its traceback is printed, then a line that says it is a
bug and how to report it, and the exit status is 1. With ``DMF_NUMPY_DEBUG=1`` in the
environment nothing is caught: every exception, a user error too, ends in its full traceback.

====  ======================================================================================
0     done
1     the work itself failed: a gradient check above its bound, a training that diverged, an
      exercise graded with an item failing; or a bug in dmf-numpy (with its traceback)
2     what was asked cannot be done: a bad argument, bad or missing data, an output folder
      that cannot be written or is held by another run, a refused checkpoint, a full disk,
      out of memory
130   interrupted (Ctrl-C); the message says how to resume
====  ======================================================================================
"""

from __future__ import annotations

import argparse
import errno
import inspect
import json
import os
import signal
import sys
import traceback
from pathlib import Path


def _running_as_command():
    """Whether this process is ``dmf-numpy`` or ``python -m dmf_numpy`` (not a program that calls :func:`main`)."""
    return os.path.basename(sys.argv[0]) in ("dmf-numpy", "__main__.py")


def _exit_on_second_interrupt():
    """After a first Ctrl-C, a second one ends the command at once and quietly (exit 130), instead
    of a traceback from wherever it lands (the clean-up, or ``threading._shutdown``)."""
    if _running_as_command():
        signal.signal(signal.SIGINT, lambda signum, frame: os._exit(130))


def _interrupted(command, after="nothing was written"):
    """Report a Ctrl-C in one line; the exit status for it."""
    _exit_on_second_interrupt()
    print(f"\ndmf-numpy{' ' + command if command else ''}: interrupted; {after}", file=sys.stderr)
    return 130


try:  # the package's modules load in a fraction of a second, in which a Ctrl-C is one line too
    from .core.errors import UserError
    from .core.fusion import INITS, MODELS
    from .core.gradcheck import BOUND, SUITE_BATCH, check_suite, format_suite, suite_worst_error
    from .course.exercises import EXERCISES, TIERS
    from .course.sandbox import ITEM_SECONDS
    from .datasets.halves import DAMAGE_KINDS, check_damage
    from .experiments.common import PAIRED_SEEDS
    from .experiments.paper import PAPER_SIZES, SAMPLED_ENTRIES, gradcheck_setups
    from .experiments.path_experiment import run_path_experiment  # for its defaults; the command imports it again
    from .experiments.reconstruct import run_reconstruct
    from .experiments.study import PARTS as STUDY_PARTS
    from .experiments.train_run import DAMAGE_ON, TrainConfig
    from .files import check_writable, check_writable_file
    from .training.loop import TrainingDiverged, describe
    from .training.optim import OPTIMIZERS
except KeyboardInterrupt:
    if not _running_as_command():  # imported by a program: not ours to end
        raise
    sys.exit(_interrupted(None))

#: The exercises `dmf-numpy exercise`, `grade` and `autograder` know.
EXERCISE_NAMES = [*EXERCISES, *TIERS]


#: The environment variable that turns off the error handling of :func:`main`: with it set (to
#: anything but 0), every exception ends in its full traceback.
DEBUG_VARIABLE = "DMF_NUMPY_DEBUG"


class UsageError(UserError):
    """A problem with what the user asked for that only the command line sees (two options that
    do not go together, a file name without .png): reported in one line, exit code 2."""


def _model_names(choice):
    return list(MODELS) if choice == "all" else [choice]


def _default(function, parameter):
    """The default of a function's parameter: one value, read where the function defines it."""
    return inspect.signature(function).parameters[parameter].default


def _out_folder(folder):
    """``--out`` created and probed before any work, so that a refusal names the option; the
    command's run creates it again (and removes it if it fails leaving it empty)."""
    created = not folder.exists()
    check_writable(folder, what="--out")
    if created:
        folder.rmdir()
    return folder


#: The largest ``gradcheck --batch``: the check's time grows with the batch (a finite difference
#: per entry, each a forward pass over the whole batch), and a few samples are enough to check
#: the gradients of every term; at 256 the paper-size check already takes minutes.
MAX_GRADCHECK_BATCH = 256


def cmd_gradcheck(args):
    """Check every model's gradients on small sizes (all entries) and paper sizes (a sample)."""
    if args.batch > MAX_GRADCHECK_BATCH:
        raise UsageError(f"--batch {args.batch}: at most {MAX_GRADCHECK_BATCH} (the check's time grows with the "
                         "batch, and a few samples check every term; the default is 4)")
    results = check_suite(_model_names(args.model), gradcheck_setups(args.entries, args.small_only),
                          batch=args.batch, seed=args.seed)
    print(format_suite(results))
    return 0 if suite_worst_error(results) < BOUND else 1


TRAINING_OPTIONS = ("epochs", "batch_size", "optimizer", "lr", "momentum", "lr_decay", "damage_kind",
                    "damage_on", "n_val", "subset", "pretrain", "init", "modality_dropout", "shift")


def _given(args, *names):
    """The options among ``names`` the user gave (the others keep the defaults of the function called)."""
    return {name: getattr(args, name) for name in names if getattr(args, name) is not None}


def _training_overrides(args):
    """The TrainConfig fields the user set on the command line (the rest keep their defaults)."""
    return {k: getattr(args, k) for k in TRAINING_OPTIONS if getattr(args, k) is not None}


def cmd_train(args):
    """Train one model on the MNIST halves, or on your own arrays (--arrays), and write its
    history and checkpoint."""
    from .experiments.train_run import run

    overrides = _training_overrides(args)
    if args.capacity_matched:
        if args.model == "dmf" or args.arrays is not None:
            raise UsageError("--capacity-matched: for --model emf or imf on the MNIST halves (DMF is the reference)")
        from .experiments.capacity import matched_settings
        overrides.update(matched_settings(args.model, overrides))
    config = TrainConfig(model=args.model, damage=args.damage, seed=args.seed, arrays=args.arrays, **overrides)
    out_dir = _out_folder(args.out or Path("runs") / config.run_name)
    if args.resume and not (out_dir / "checkpoint.npz").exists():
        print(f"nothing to resume in {out_dir}/: starting from scratch")
    result = run(config, data_dir=args.data_dir, out_dir=out_dir, resume=args.resume)
    print(f"final epoch: {describe(result['history'][-1])} ({result['seconds']:.0f} s in all); wrote {out_dir}/")
    return 0


def cmd_table1(args):
    """Reproduce Table 1 and Fig. 4: EMF, IMF and DMF at 0/30/50/70 % damage, several seeds."""
    from .experiments.table1 import run_table1

    seeds = args.seeds if args.seeds is not None else (1 if args.quick else 3)
    out = _out_folder(args.out or Path("results/quick" if args.quick else "runs/table1"))  # results/ stay as they are
    compare = "committed" if args.compare is None else None if str(args.compare) == "none" else args.compare
    run_table1(out, seeds=seeds, jobs=args.jobs, quick=args.quick, data_dir=args.data_dir, compare=compare,
               command="dmf-numpy " + " ".join(sys.argv[1:]), capacity_matched=args.capacity_matched,
               **_training_overrides(args))
    return 0


def _add_training_options(p):
    p.add_argument("--data-dir", type=_existing_dir, help="folder holding the MNIST files "
                   "(default: $DMF_NUMPY_DATA, else the user cache, else download)")
    p.add_argument("--epochs", type=_positive_int)
    p.add_argument("--capacity-matched", action="store_true",
                   help="widen EMF's and IMF's hidden layers by one factor to DMF's parameter count (within 2 %%)")
    p.add_argument("--batch-size", type=_positive_int)
    p.add_argument("--optimizer", choices=list(OPTIMIZERS))
    p.add_argument("--lr", type=float, help="learning rate")
    p.add_argument("--momentum", type=float, help="SGD momentum")
    p.add_argument("--lr-decay", type=float, help="learning rate factor per epoch (1 = constant)")
    p.add_argument("--damage-kind", choices=DAMAGE_KINDS,
                   help="'pixels' is the paper's; 'columns' and 'noise' go beyond it")
    p.add_argument("--n-val", type=_nonnegative_int, help="training images held out for validation")
    p.add_argument("--subset", type=_positive_int, help="use only this many samples of each split")
    p.add_argument("--pretrain", type=_nonnegative_int, help="epochs of unsupervised generative pretraining of the "
                   "encoder before fine-tuning (default 0)")
    p.add_argument("--init", choices=INITS, help="initialization: Glorot (glorot, the default) or uniform in "
                   "+-1/sqrt(fan_in) per block (fan_in)")
    p.add_argument("--damage-on", choices=DAMAGE_ON,
                   help="damage the training and test images (default), or the test images only")
    p.add_argument("--modality-dropout", type=float, metavar="P",
                   help="beyond the paper: zero one modality of this fraction of the training samples (default 0)")
    p.add_argument("--shift", type=_nonnegative_int, metavar="PIXELS",
                   help="regularization the paper does not name: move each training digit by up to this many "
                   "pixels in each direction, drawn per mini-batch (default 0)")


def cmd_study(args):
    """Table 1 under a grid of protocols: a verdict on each claim of the paper, from paired seeds;
    a tuning on validation for the paper's 1.40 %; the protocol chosen on validation."""
    from .experiments.study import GRID, PARTS, render_claims, run_study

    grid = None
    if args.protocols is not None:
        grid = [tuple(cell.strip().split("@")) for cell in args.protocols.split(",")]
        if any(len(cell) != 2 or not all(cell) for cell in grid):
            raise UsageError(f"--protocols: expected PROTOCOL@SCALE,... as in {','.join('@'.join(c) for c in GRID)}")
    out = _out_folder(args.out or Path("results/quick-study" if args.quick else "results/study"))
    parts = PARTS if args.part == "all" else (args.part,)
    if args.render:
        render_claims(out, grid=grid, quick=args.quick, parts=parts)
        return 0
    run_study(out, quick=args.quick, jobs=args.jobs, data_dir=args.data_dir, grid=grid, parts=parts)
    return 0


def cmd_paths(args):
    """Train DMF and IMF and measure, per layer and epoch, the gradient each path of Eq. 5 carries."""
    from .experiments.path_experiment import run_path_experiment

    run_path_experiment(_out_folder(args.out), damage=args.damage, epochs=args.epochs, subset=args.subset,
                        seed=args.seed, data_dir=args.data_dir)
    return 0


def cmd_reconstruct(args):
    """Train the generative DMF on MNIST halves; reconstruct the left half from the right alone."""
    from .experiments.reconstruct import run_reconstruct

    run_reconstruct(_out_folder(args.out), epochs=args.epochs, damage=args.damage, subset=args.subset,
                    seed=args.seed, data_dir=args.data_dir)
    return 0


def cmd_retrieval(args):
    """Table 3: cross-modal retrieval (I2T, T2I) on the Wikipedia features, DMF against IMF, EMF and
    CCA."""
    from .experiments.retrieval import run_retrieval

    run_retrieval(_out_folder(args.out), data_dir=args.data_dir, subset=tuple(args.subset) if args.subset else None,
                  **_given(args, "seeds", "epochs"))
    return 0


def cmd_audiovisual(args):
    """Table 2's protocol on spoken digits (FSDD) paired with MNIST digits: A, V and A+V accuracy."""
    from .experiments.audiovisual import run_audiovisual

    run_audiovisual(_out_folder(args.out), data_dir=args.data_dir, subset=args.subset, **_given(args, "seeds", "epochs"))
    return 0


def cmd_bench(args):
    """Measure training and evaluation speed against the machine's matrix-multiply limit."""
    from .experiments.bench import run_bench

    if args.json is not None:
        check_writable_file(args.json, what="--json")
    result = run_bench(batch_size=args.batch_size, repeats=args.repeats, runs=args.runs, json_path=args.json)
    return 0 if result["gradcheck_ok"] else 1


def cmd_exercise(args):
    """Write a student's copy of an exercise: DMF on one page with equations blanked out (the guided
    tier: backward, forward), DMF's whole backward pass to write (backward-full), or DMF with
    three modalities (three-modalities)."""
    from .course.exercises import write_exercise

    path = write_exercise(args.name, check_writable(args.out, what="--out"))
    print(f"wrote {path} and {path.parent / 'INSTRUCTIONS.md'}; when the blanks are filled in: "
          f"dmf-numpy grade {path}")
    return 0


def cmd_grade(args):
    """Grade a submission (a student's copy, or an assignment notebook) item by item, with the
    student's code in a separate process; exit 0 when every item passes, 1 when one fails."""
    from .course.grader import grade
    from .course.report import Report, Item
    from .course.submission import SubmissionError
    from .files import write_json

    if args.gradescope:
        check_writable_file(args.gradescope, what="--gradescope")
    try:
        report = grade(args.file, seed=args.seed, seconds=args.time_limit, exercise=args.exercise)
    except SubmissionError as err:
        if args.gradescope:  # the student sees why there is no score
            write_json(args.gradescope, Report(args.exercise or "unknown", [Item("the submission", False, str(err))])
                       .gradescope())
        raise UsageError(str(err)) from None
    if args.gradescope:
        write_json(args.gradescope, report.gradescope())
    print(json.dumps(report.as_dict(), indent=2) if args.json else report.text())
    return 0 if report.passed else 1


def cmd_autograder(args):
    """Write a Gradescope autograder folder (setup.sh, run_autograder, the package's source) that
    grades the named exercise; zip the folder's contents and upload them."""
    from .course.autograder import write_autograder

    folder = write_autograder(args.name, args.file or f"dmf_{args.name}.py", check_writable(args.out, what="--out"))
    print(f"wrote {folder}: zip its contents (cd {folder} && zip -r ../autograder.zip .) and upload the zip "
          "to Gradescope")
    return 0


def cmd_draw(args):
    """Draw a model's architecture as in the paper's Fig. 1 (--model all: EMF, IMF and DMF side by
    side; --paths: the backward routes into x, Fig. 2), or the fork of Eq. 5 (--fork), as a PNG."""
    from .experiments.drawing import draw, draw_fork, draw_side_by_side

    if args.out.suffix.lower() != ".png":
        raise UsageError(f"--out {args.out}: pictures are written as PNG; give a file name ending in .png")
    check_writable_file(args.out, what="--out")
    if args.fork:
        draw_fork(args.out)
    else:
        try:
            models = [MODELS[name](args.x_dims, args.y_dims, args.shared_dims, args.classes)
                      for name in _model_names(args.model)]
        except MemoryError:  # the drawing is made from a model, whose weights must fit in memory
            raise UsageError(f"--x-dims {' '.join(map(str, args.x_dims))} --y-dims {' '.join(map(str, args.y_dims))} "
                             f"--shared-dims {' '.join(map(str, args.shared_dims))}: a model this large does not fit "
                             "in memory, and drawing builds the model; give smaller layer sizes") from None
        if args.model == "all":
            draw_side_by_side(models, args.out, paths=args.paths)
        else:
            draw(models[0], args.out, paths=args.paths)
    print(f"wrote {args.out}")
    return 0


def _path(text):
    """A path option's value: any non-empty text (an empty one would mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a path, got an empty one (it would mean the current folder; "
                                         "write . for that)")
    return Path(text)


def _existing_dir(text):
    path = _path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"no such directory: {text}")
    return path


def _integer(text, minimum, expected):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {value}")
    return value


def _positive_int(text):
    return _integer(text, 1, "a positive integer")


def _nonnegative_int(text):
    return _integer(text, 0, "a non-negative integer")


def _damage(text):
    """A damage level, checked by the package's one check of it (:func:`~dmf_numpy.datasets.halves.check_damage`)."""
    try:
        return check_damage(float(text))
    except UserError as err:  # out of range: the check's message, without its "damage: "
        raise argparse.ArgumentTypeError(str(err).split(": ", 1)[-1]) from None
    except ValueError:  # not a number
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {text!r}") from None


def _add_output_options(p, out, data):
    """``--out`` (default ``out``) and ``--data-dir`` (a folder holding ``data``) of an experiment."""
    p.add_argument("--out", type=_path, default=Path(out), help="output folder (default: %(default)s)")
    p.add_argument("--data-dir", type=_existing_dir, help=f"folder holding {data}")


def build_parser():
    parser = argparse.ArgumentParser(
        prog="dmf-numpy",
        description="Dense Multimodal Fusion in pure NumPy: gradient checks, the paper's experiments, training "
                    "on your own arrays, and teaching material.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("gradcheck", help="check the hand-written gradients against finite differences",
                            description=cmd_gradcheck.__doc__)
    p.add_argument("--model", choices=[*MODELS, "all"], default="all")
    p.add_argument("--entries", type=_positive_int, default=SAMPLED_ENTRIES,
                   help="entries sampled per tensor at the paper's sizes (default: %(default)s)")
    p.add_argument("--batch", type=_positive_int, default=SUITE_BATCH,
                   help=f"batch size, at most {MAX_GRADCHECK_BATCH} (default: %(default)s)")
    p.add_argument("--seed", type=_nonnegative_int, default=0)
    p.add_argument("--small-only", action="store_true", help="skip the paper-size check")
    p.set_defaults(func=cmd_gradcheck)

    defaults = TrainConfig()
    p = commands.add_parser("train", help="train one model on the MNIST halves or on your own arrays",
                            description=cmd_train.__doc__, epilog=f"Defaults: {defaults.to_dict()}")
    p.add_argument("--model", choices=list(MODELS), default=defaults.model)
    p.add_argument("--damage", type=_damage, default=defaults.damage, help="fraction of right-half pixels zeroed")
    p.add_argument("--seed", type=_nonnegative_int, default=defaults.seed)
    p.add_argument("--arrays", type=_path, metavar="FILE.npz",
                   help="train on your own arrays instead of MNIST: x, y, labels and optionally x_val, y_val, "
                        "labels_val, x_test, y_test, labels_test (input sizes and classes come from the data)")
    p.add_argument("--out", type=_path, help="output folder (default: runs/<model>_damage<p>_seed<s>, "
                                            "or runs/<model>_<file>_seed<s> with --arrays)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    _add_training_options(p)
    p.set_defaults(func=cmd_train)

    p = commands.add_parser("table1", help="reproduce Table 1 and Fig. 4", description=cmd_table1.__doc__)
    p.add_argument("--out", type=_path, help="output folder (default: runs/table1, or results/quick with --quick)")
    p.add_argument("--compare", type=_path, metavar="FILE|none",
                   help="a table1.csv to compare the new table with, cell by cell, within seed noise or not "
                        "(default: the committed results/table1.csv of this checkout, if any; none: no comparison)")
    p.add_argument("--seeds", type=_positive_int, help="number of seeds (default: 3; 1 with --quick)")
    p.add_argument("--jobs", type=_positive_int, default=1, help="trainings run in parallel (default: %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test on a small subset with few epochs (under 2 minutes)")
    _add_training_options(p)
    p.set_defaults(func=cmd_table1)

    p = commands.add_parser("study", help="which of the paper's claims hold, under which protocol",
                            description=cmd_study.__doc__)
    p.add_argument("--out", type=_path,
                   help="output folder (default: results/study, or results/quick-study with --quick)")
    p.add_argument("--quick", action="store_true", help="every protocol on a few hundred images: a smoke test")
    p.add_argument("--jobs", type=_positive_int, default=1, help="trainings run in parallel (default: %(default)s)")
    p.add_argument("--part", choices=["all", *STUDY_PARTS], default="all",
                   help="the primary design (equal tuning, matched baselines, 10 seeds), the grid of protocols, "
                        "or both (default: %(default)s)")
    p.add_argument("--protocols", metavar="P@S,...", help="a part of the grid, e.g. paper@full,fan_in@reduced")
    p.add_argument("--render", action="store_true",
                   help="train nothing, read no data: write the reports again from the finished runs' histories")
    p.add_argument("--data-dir", type=_existing_dir, help="folder holding the MNIST files")
    p.set_defaults(func=cmd_study)

    p = commands.add_parser("paths", help="measure the gradient carried by each learning path (Fig. 2)",
                            description=cmd_paths.__doc__)
    p.add_argument("--damage", type=_damage, default=_default(run_path_experiment, "damage"),
                   help="fraction of right-half pixels zeroed (default: %(default)s)")
    p.add_argument("--epochs", type=_positive_int, default=_default(run_path_experiment, "epochs"),
                   help="default: %(default)s")
    p.add_argument("--subset", type=_positive_int, help="use only this many samples of each split")
    p.add_argument("--seed", type=_nonnegative_int, default=0)
    _add_output_options(p, "results/paths", "the MNIST files")
    p.set_defaults(func=cmd_paths)

    p = commands.add_parser("reconstruct", help="cross-modal inference on MNIST with the generative DMF",
                            description=cmd_reconstruct.__doc__)
    p.add_argument("--damage", type=_damage, default=_default(run_reconstruct, "damage"),
                   help="fraction of right-half pixels zeroed (default: %(default)s)")
    p.add_argument("--epochs", type=_positive_int, default=_default(run_reconstruct, "epochs"),
                   help="default: %(default)s")
    p.add_argument("--subset", type=_positive_int, default=20000,
                   help="use only this many samples of each split (default: %(default)s)")
    p.add_argument("--seed", type=_nonnegative_int, default=0)
    _add_output_options(p, "results/reconstruct", "the MNIST files")
    p.set_defaults(func=cmd_reconstruct)

    p = commands.add_parser("retrieval", help="Table 3: cross-modal retrieval on the Wikipedia features",
                            description=cmd_retrieval.__doc__)
    p.add_argument("--seeds", type=_positive_int, help=f"default: the experiment's, {PAIRED_SEEDS}")
    p.add_argument("--epochs", type=_positive_int,
                   help="default: the experiment's (dmf_numpy.experiments.retrieval.DMF_SETTINGS['epochs'])")
    p.add_argument("--subset", type=_positive_int, nargs=2, metavar=("N_ITEMS", "N_QUERIES"),
                   help="a seeded random subset of the retrieval set and of the queries (a smoke test)")
    _add_output_options(p, "results/retrieval", "wiki/ or the Wikipedia files")
    p.set_defaults(func=cmd_retrieval)

    p = commands.add_parser("audiovisual", help="Table 2's protocol on spoken + written digits",
                            description=cmd_audiovisual.__doc__)
    p.add_argument("--seeds", type=_positive_int, help=f"default: the experiment's, {PAIRED_SEEDS}")
    p.add_argument("--epochs", type=_positive_int,
                   help="default: the experiment's (dmf_numpy.experiments.audiovisual.SETTINGS['epochs'])")
    p.add_argument("--subset", type=_positive_int, help="keep recordings 0..SUBSET-1 of every speaker and digit")
    _add_output_options(p, "results/audiovisual", "fsdd/ and mnist/")
    p.set_defaults(func=cmd_audiovisual)

    p = commands.add_parser("exercise", help="write a student's copy of DMF with equations to fill in",
                            description=cmd_exercise.__doc__)
    p.add_argument("name", choices=EXERCISE_NAMES, help="which exercise")
    p.add_argument("--out", type=_path, default=Path("exercise"), help="folder for the copy and its "
                   "instructions (default: %(default)s)")
    p.set_defaults(func=cmd_exercise)

    p = commands.add_parser("grade", help="grade a student's exercise file item by item",
                            description=cmd_grade.__doc__)
    p.add_argument("file", type=Path, help="the student's copy (.py, as written by `dmf-numpy exercise`) or an "
                   "assignment notebook (.ipynb)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON document")
    p.add_argument("--gradescope", type=Path, metavar="RESULTS_JSON",
                   help="also write Gradescope's results.json here")
    p.add_argument("--exercise", choices=EXERCISE_NAMES, help="the exercise the file must be (a file of another "
                   "exercise gets no marks); by default the one its first line names")
    p.add_argument("--seed", type=_nonnegative_int, help="seed of the test cases (default: a fresh one, "
                   "shown in the report)")
    p.add_argument("--time-limit", type=_positive_int, metavar="SECONDS",
                   help=f"seconds each item may run (default {ITEM_SECONDS})")
    p.set_defaults(func=cmd_grade)

    p = commands.add_parser("autograder", help="write a Gradescope autograder folder for an exercise",
                            description=cmd_autograder.__doc__)
    p.add_argument("name", choices=EXERCISE_NAMES, help="the exercise it grades")
    p.add_argument("--file", help="the file name students hand in (default: dmf_NAME.py)")
    p.add_argument("--out", type=_path, default=Path("autograder"), help="the folder (default: %(default)s)")
    p.set_defaults(func=cmd_autograder)

    p = commands.add_parser("draw", help="draw a model (Fig. 1), its learning paths (Fig. 2) or the fork of Eq. 5",
                            description=cmd_draw.__doc__)
    p.add_argument("--model", choices=[*MODELS, "all"], default=defaults.model,
                   help="the model to draw; all: EMF, IMF and DMF side by side, as in Fig. 1 (default: %(default)s)")
    sizes = {k: " ".join(map(str, v)) for k, v in PAPER_SIZES.items() if k.endswith("_dims")}
    p.add_argument("--x-dims", type=_positive_int, nargs="+", default=list(PAPER_SIZES["x_dims"]), metavar="D",
                   help=f"tower sizes of modality x (default: the paper's, {sizes['x_dims']})")
    p.add_argument("--y-dims", type=_positive_int, nargs="+", default=list(PAPER_SIZES["y_dims"]), metavar="D",
                   help=f"tower sizes of modality y (default: the paper's, {sizes['y_dims']})")
    p.add_argument("--shared-dims", type=_positive_int, nargs="+", default=list(PAPER_SIZES["shared_dims"]),
                   metavar="E", help=f"sizes of the shared stack (default: the paper's, {sizes['shared_dims']})")
    p.add_argument("--classes", type=_positive_int, default=PAPER_SIZES["n_classes"],
                   help="classes of the softmax head (default: %(default)s)")
    p.add_argument("--paths", action="store_true", help="colour the backward routes into x, one per crossing level")
    p.add_argument("--fork", action="store_true", help="draw the fork of Eq. 5 instead of a model")
    p.add_argument("--out", type=_path, required=True, help="the PNG file to write (its name ends in .png)")
    p.set_defaults(func=cmd_draw)

    p = commands.add_parser("bench", help="benchmark training speed against the machine's GEMM speed",
                            description=cmd_bench.__doc__)
    p.add_argument("--batch-size", type=_positive_int, default=100)
    p.add_argument("--repeats", type=_positive_int, default=7, help="timed repetitions, median reported")
    p.add_argument("--runs", type=_positive_int, default=1,
                   help="run the whole benchmark this many times and report the median of each figure")
    p.add_argument("--json", type=_path, help="also write the figures to this JSON file")
    p.set_defaults(func=cmd_bench)
    return parser


#: What to do after Ctrl-C, per command (the others keep no partial results).
AFTER_INTERRUPT = {
    "train": "every finished epoch is in the checkpoint: add --resume to the same command to continue",
    "table1": "every finished epoch is saved: run the same command again to continue",
}


#: The errors of a write that fails for want of room or of permission, not because of the run.
WRITE_ERRORS = {errno.ENOSPC: "the disk is full: free some space",
                errno.EDQUOT: "the disk quota is used up: free some space",
                errno.EFBIG: "the file is larger than the size limit (ulimit -f) allows: raise the limit",
                errno.EACCES: "the folder is not writable (any more): make it writable",
                errno.EROFS: "the file system is read-only: make it writable"}


def _error_text(err, command):
    """The one-line text of an error: an operating-system error as "FILE: what happened" (not
    "[Errno 28] ..."), with what to do after a failed write, and for a training how to resume."""
    if not isinstance(err, OSError) or err.errno is None:
        return str(err)
    text = f"{err.filename}: {err.strerror}" if err.filename is not None else err.strerror
    if err.errno in WRITE_ERRORS:
        text += f"; {WRITE_ERRORS[err.errno]}"
        if command in AFTER_INTERRUPT:
            text += f", then continue: {AFTER_INTERRUPT[command]}"
    return text


def main(argv=None):
    """Run the command line; return the exit status (see the module docstring)."""
    try:
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:
        return _interrupted(None)
    if os.environ.get(DEBUG_VARIABLE, "0") not in ("", "0"):
        return args.func(args)  # every exception with its whole traceback
    try:
        return args.func(args)
    except (UserError, OSError) as err:  # the user's mistake, or the file system's refusal
        print(f"dmf-numpy {args.command}: error: {_error_text(err, args.command)}", file=sys.stderr)
        return 2
    except MemoryError:
        print(f"dmf-numpy {args.command}: error: out of memory; ask for less (a smaller --batch-size, --batch "
              "or --subset)", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        print(f"dmf-numpy {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return _interrupted(args.command, AFTER_INTERRUPT.get(args.command, "nothing was written"))
    except Exception:  # anything else is ours
        traceback.print_exc()
        print(_bug_text(args.command), file=sys.stderr)
        return 1


def _bug_text(command):
    """What follows the traceback of an exception that is not a user error: a bug in dmf-numpy."""
    version = getattr(sys.modules.get(__package__), "__version__", "?")
    return (f"dmf-numpy {command}: this is a bug in dmf-numpy {version}, not a mistake in what you asked. "
            f"Please report it to the project's issue tracker with the command you ran, the traceback above and "
            f"`python -c 'import numpy; print(numpy.__version__)'`; {DEBUG_VARIABLE}=1 shows the traceback of "
            f"every error, a user error too.")
