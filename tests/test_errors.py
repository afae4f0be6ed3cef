"""Honest errors (issue 20, items 3 and 4): the package's one error class for a user's mistake,
the command line's exit statuses, choices and defaults read from the package's constants, and
each kind of value checked by one helper, once, at the entry point.

Only :class:`~dmf_numpy.core.errors.UserError` (with every error class of the package derived
from it), an ``OSError`` and a ``MemoryError`` end in one line and exit 2; anything else is a bug:
its traceback, a line saying so, exit 1. ``DMF_NUMPY_DEBUG=1`` re-raises everything.
"""

import argparse
import errno
import functools
import inspect

import numpy as np
import pytest

import dmf_numpy.cli as cli
from dmf_numpy.cli import DEBUG_VARIABLE, UsageError, build_parser, main
from dmf_numpy.core.errors import UserError
from dmf_numpy.core.fusion import INITS, MODELS, FusionNet
from dmf_numpy.course.exercises import EXERCISES, TIERS
from dmf_numpy.course.submission import SubmissionError
from dmf_numpy.datasets.halves import DAMAGE_KINDS, damage, load_halves
from dmf_numpy.datasets.store import DataError, MissingDataError
from dmf_numpy.experiments.audiovisual import run_audiovisual
from dmf_numpy.core.gradcheck import check_suite
from dmf_numpy.experiments.paper import PAPER_SIZES, gradcheck_setups
from dmf_numpy.experiments.path_experiment import run_path_experiment
from dmf_numpy.experiments.reconstruct import run_reconstruct
from dmf_numpy.experiments.retrieval import run_retrieval
from dmf_numpy.experiments.train_run import DAMAGE_ON, TrainConfig
from dmf_numpy.files import FolderLocked, check_writable, check_writable_file, run_lock
from dmf_numpy.npz import NpzError
from dmf_numpy.training.checkpoint import CheckpointError
from dmf_numpy.training.loop import fit, fit_generative
from dmf_numpy.training.optim import OPTIMIZERS

#: What a shape bug inside NumPy says: a plain ValueError, which must not read as the user's mistake.
MATMUL_BUG = "matmul: Input operand 1 has a mismatch in its core dimension 0, with gufunc signature (n?,k),(k,m?)"


@pytest.fixture(autouse=True)
def no_debug(monkeypatch):
    monkeypatch.delenv(DEBUG_VARIABLE, raising=False)


def raising(error, like=cli.check_suite):
    """A function that raises ``error``, with the signature of ``like`` (the parser reads defaults from it)."""
    @functools.wraps(like)
    def function(*args, **kwargs):
        raise error
    return function


def arrays_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mine.npz"
    np.savez(path, x=rng.random((40, 6)), y=rng.random((40, 3)), labels=rng.integers(0, 3, 40))
    return path


# ---------------------------------------------------------------- one error class

@pytest.mark.parametrize("error", [CheckpointError, DataError, MissingDataError, NpzError, FolderLocked,
                                   SubmissionError, UsageError])
def test_every_user_error_of_the_package_is_a_user_error_and_still_a_value_error(error):
    assert issubclass(error, UserError) and issubclass(error, ValueError)
    assert issubclass(FolderLocked, RuntimeError)  # as before


@pytest.mark.parametrize("error", [UserError("--lr: expected a positive learning rate"),
                                   CheckpointError("run/checkpoint.npz: checkpoint of another architecture"),
                                   FolderLocked("--out run: held by process 12")])
def test_a_user_error_is_one_line_and_exit_2(monkeypatch, capsys, error):
    monkeypatch.setattr(cli, "check_suite", raising(error))
    assert main(["gradcheck", "--small-only"]) == 2
    err = capsys.readouterr().err
    assert err == f"dmf-numpy gradcheck: error: {error}\n"


def test_an_os_error_is_one_line_and_exit_2_and_says_what_to_do(monkeypatch, capsys):
    monkeypatch.setattr(cli, "check_suite", raising(OSError(errno.ENOSPC, "No space left on device", "out/x")))
    assert main(["gradcheck", "--small-only"]) == 2
    assert capsys.readouterr().err == ("dmf-numpy gradcheck: error: out/x: No space left on device; the disk is "
                                       "full: free some space\n")


def test_out_of_memory_is_one_line_and_exit_2(monkeypatch, capsys):
    monkeypatch.setattr(cli, "check_suite", raising(MemoryError()))
    assert main(["gradcheck", "--small-only"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "out of memory" in err and "Traceback" not in err


@pytest.mark.parametrize("bug", [ValueError(MATMUL_BUG), TypeError("unsupported operand"), IndexError("index 3"),
                                 KeyError("W_x1"), ZeroDivisionError("division by zero")])
def test_an_injected_bug_shows_its_traceback_says_it_is_a_bug_and_exits_1(monkeypatch, capsys, bug):
    monkeypatch.setattr(cli, "check_suite", raising(bug))
    assert main(["gradcheck", "--small-only"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and type(bug).__name__ in err
    assert "this is a bug in dmf-numpy" in err and "report it" in err and f"{DEBUG_VARIABLE}=1" in err
    assert "error: " + str(bug) not in err  # not dressed as the user's mistake


def test_a_shape_bug_deep_in_training_is_a_bug_not_a_user_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(FusionNet, "loss_and_grads", raising(ValueError(MATMUL_BUG), FusionNet.loss_and_grads))
    assert main(["train", "--arrays", str(arrays_file(tmp_path)), "--epochs", "1", "--batch-size", "10",
                 "--out", str(tmp_path / "run")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and MATMUL_BUG in err and "this is a bug in dmf-numpy" in err


@pytest.mark.parametrize("error", [UserError("a user error"), ValueError(MATMUL_BUG), OSError("disk")])
def test_debug_re_raises_everything(monkeypatch, error):
    monkeypatch.setenv(DEBUG_VARIABLE, "1")
    monkeypatch.setattr(cli, "check_suite", raising(error))
    with pytest.raises(type(error)):
        main(["gradcheck", "--small-only"])


def test_debug_0_is_off(monkeypatch):
    monkeypatch.setenv(DEBUG_VARIABLE, "0")
    monkeypatch.setattr(cli, "check_suite", raising(UserError("a user error")))
    assert main(["gradcheck", "--small-only"]) == 2


# ---------------------------------------------------------------- choices and defaults from the constants

def options(command):
    """``{dest: action}`` of a subcommand's options."""
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return {a.dest: a for a in subparsers.choices[command]._actions}


def test_the_cli_choices_are_the_package_constants():
    for command in ("gradcheck", "draw"):
        assert options(command)["model"].choices == [*MODELS, "all"]
    for command in ("train", "table1"):
        opts = options(command)
        assert list(opts["optimizer"].choices) == list(OPTIMIZERS)
        assert list(opts["damage_kind"].choices) == list(DAMAGE_KINDS)
        assert list(opts["init"].choices) == list(INITS)
        assert list(opts["damage_on"].choices) == list(DAMAGE_ON)
    assert options("train")["model"].choices == list(MODELS)
    for command in ("exercise", "autograder"):
        assert options(command)["name"].choices == [*EXERCISES, *TIERS]
    assert options("grade")["exercise"].choices == [*EXERCISES, *TIERS]


def default(function, name):
    return inspect.signature(function).parameters[name].default


def test_the_cli_defaults_are_the_package_defaults():
    train, config = options("train"), TrainConfig()
    assert (train["model"].default, train["damage"].default, train["seed"].default) == \
        (config.model, config.damage, config.seed)
    for name in cli.TRAINING_OPTIONS:  # unset: TrainConfig's own default applies
        assert options("train")[name].default is None and options("table1")[name].default is None
    assert options("gradcheck")["batch"].default == default(check_suite, "batch")
    assert options("gradcheck")["entries"].default == default(gradcheck_setups, "entries")
    for command, function in (("paths", run_path_experiment), ("reconstruct", run_reconstruct)):
        assert options(command)["epochs"].default == default(function, "epochs")
        assert options(command)["damage"].default == default(function, "damage")
    for command in ("retrieval", "audiovisual"):  # unset: the experiment's own default applies
        assert options(command)["epochs"].default is None and options(command)["seeds"].default is None
    draw = options("draw")
    assert [tuple(draw[f"{k}_dims"].default) for k in ("x", "y", "shared")] == \
        [PAPER_SIZES[f"{k}_dims"] for k in ("x", "y", "shared")]
    assert draw["classes"].default == PAPER_SIZES["n_classes"]


def test_retrieval_and_audiovisual_get_only_the_options_given(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr("dmf_numpy.experiments.retrieval.run_retrieval", lambda out, **kw: seen.update(kw))
    assert main(["retrieval", "--out", str(tmp_path / "r")]) == 0
    assert "epochs" not in seen and "seeds" not in seen
    assert main(["retrieval", "--out", str(tmp_path / "r"), "--epochs", "5"]) == 0 and seen["epochs"] == 5


def test_files_defaults_name_no_option_of_the_cli(tmp_path):
    for function in (check_writable, check_writable_file, run_lock):
        assert not default(function, "what").startswith("--")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(NotADirectoryError, match="^output folder .*a-file: a file, not a folder"):
        check_writable(tmp_path / "a-file")


# ---------------------------------------------------------------- one check per kind of value, at the entry

@pytest.mark.parametrize("epochs", [2.5, "3", True, 0, None])
def test_train_config_refuses_epochs_that_are_not_a_positive_integer(epochs):
    with pytest.raises(UserError, match="epochs: expected a positive integer"):
        TrainConfig(epochs=epochs)


def test_one_damage_check_for_the_cli_the_config_and_the_data(capsys):
    for call in (lambda: TrainConfig(damage=1.5), lambda: damage(np.zeros((1, 392)), 1.5),
                 lambda: load_halves("nowhere", damage_p=1.5)):
        with pytest.raises(UserError, match=r"expected a fraction in \[0, 1\), got 1.5"):
            call()
    with pytest.raises(SystemExit):
        main(["train", "--damage", "1.5"])
    assert "argument --damage: expected a fraction in [0, 1), got 1.5" in capsys.readouterr().err
    for call in (lambda: TrainConfig(damage_kind="blur"), lambda: damage(np.zeros((1, 392)), 0.1, kind="blur")):
        with pytest.raises(UserError, match=r"expected one of \['pixels', 'columns', 'noise'\], got 'blur'"):
            call()


@pytest.mark.parametrize("run", [run_retrieval, run_audiovisual])
@pytest.mark.parametrize("seeds", [0, 1.5, "2"])
def test_retrieval_and_audiovisual_check_seeds_alike_before_reading_data(tmp_path, run, seeds):
    with pytest.raises(UserError, match="^seeds: expected a positive integer"):
        run(tmp_path / "out", seeds=seeds, data_dir=tmp_path / "nothing-here", log=None)


@pytest.mark.parametrize("setting, message", [({"batch_size": 0}, "batch_size: expected a positive integer"),
                                              ({"lr": -1.0}, "lr: expected a positive"),
                                              ({"x_dims": (128, 0)}, "x_dims: expected"),
                                              ({"colour": 1}, "settings: unknown")])
def test_retrieval_checks_its_settings_before_the_data_and_the_cca(tmp_path, setting, message):
    with pytest.raises(UserError, match=message):  # not MissingDataError: no data was looked for
        run_retrieval(tmp_path / "out", data_dir=tmp_path / "nothing-here", log=None, **setting)


def test_fit_has_no_setting_defaults():
    assert "setting_defaults" not in inspect.signature(fit).parameters
    assert "setting_defaults" not in inspect.signature(fit_generative).parameters
