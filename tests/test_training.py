"""One training run in a folder (``dmf_numpy.experiments.train_run``): the MNIST experiment's
use of the training loop, checkpoints and resuming, on a small synthetic problem."""

import json
import os

import numpy as np
import pytest

import dmf_numpy.training.checkpoint as checkpoint_module
from dmf_numpy.training.checkpoint import CheckpointError, load_checkpoint, read_checkpoint, save_checkpoint
from dmf_numpy.core.fusion import build_model
from dmf_numpy.experiments.train_run import TrainConfig, run
from dmf_numpy.training.optim import make_optimizer

from helpers import SMALL_ARCH, synthetic_halves


def config(**kw):
    return TrainConfig(**{**SMALL_ARCH, "epochs": 3, "batch_size": 50, "lr": 3e-3, "lr_decay": 1.0, **kw})


def build(cfg):
    """A config's model and a fresh optimizer over its parameters."""
    model = build_model(cfg.to_dict())
    return model, make_optimizer(cfg.optimizer, model.params, lr=cfg.lr, momentum=cfg.momentum)


def quiet(line):
    pass


@pytest.mark.parametrize("model, optimizer", [("dmf", "adam"), ("imf", "sgd"), ("emf", "adam")])
def test_training_reduces_the_loss(model, optimizer):
    cfg = config(model=model, optimizer=optimizer, epochs=4, lr=3e-3 if optimizer == "adam" else 0.5)
    history = run(cfg, data=synthetic_halves(), log=quiet)["history"]
    losses = [r["train_loss"] for r in history]
    assert losses[-1] < 0.9 * losses[0], losses
    assert set(history[-1]["test_error"]) == {"left+right", "right", "left"}
    assert all(0 <= e <= 100 for e in history[-1]["val_error"].values())


def test_progress_line_per_epoch_with_eta():
    lines = []
    run(config(), data=synthetic_halves(), log=lines.append)
    assert len(lines) == 3 and all("ETA" in line and "loss" in line for line in lines)
    assert lines[0].startswith("[dmf_damage0.00_seed0] epoch 1/3")


def test_checkpoint_round_trip(tmp_path):
    result = run(config(), data=synthetic_halves(), out_dir=tmp_path, log=quiet)
    model = result["model"]
    meta, arrays = read_checkpoint(tmp_path / "checkpoint.npz")
    assert meta["epoch"] == 3 and len(meta["history"]) == 3 and meta["architecture"]["model"] == "dmf"
    twin, twin_opt = build(config(seed=99))
    rng = np.random.default_rng(0)
    load_checkpoint(tmp_path / "checkpoint.npz", twin, twin_opt, rng)
    assert all(np.array_equal(model.params[k], twin.params[k]) for k in model.params)
    assert twin_opt.t == 3 * 400 // 50 and np.array_equal(twin_opt.slots["v"]["W_xs.2"], arrays["opt/v/W_xs.2"])
    assert rng.bit_generator.state == meta["rng_state"]
    history = json.loads((tmp_path / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert (tmp_path / "history.csv").read_text().splitlines()[0].startswith("epoch,lr,train_loss,seconds,val_error")


def test_resume_equals_an_uninterrupted_run_bit_for_bit(tmp_path):
    cfg, data = config(), synthetic_halves()
    whole = run(cfg, data=data, out_dir=tmp_path / "whole", log=quiet)["model"]

    def interrupt_after_epoch_2(line):
        if "epoch 2/3" in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(cfg, data=data, out_dir=tmp_path / "cut", log=interrupt_after_epoch_2)
    lines = []
    result = run(cfg, data=data, out_dir=tmp_path / "cut", resume=True, log=lines.append)
    assert "resumed after epoch 2" in lines[0] and len(result["history"]) == 3
    for k in whole.params:
        assert np.array_equal(whole.params[k], result["model"].params[k]), k


def test_resume_with_other_settings_is_refused(tmp_path):
    run(config(epochs=1), data=synthetic_halves(), out_dir=tmp_path, log=quiet)
    with pytest.raises(CheckpointError, match="holds a run with other settings \\(lr differ"):
        run(config(epochs=1, lr=0.5), data=synthetic_halves(), out_dir=tmp_path, resume=True, log=quiet)


def test_checkpoint_of_another_architecture_is_refused(tmp_path):
    model, opt = build(config())
    save_checkpoint(tmp_path / "c.npz", model, opt, epoch=0, rng=np.random.default_rng(), history=[])
    other, _ = build(config(model="imf"))
    with pytest.raises(CheckpointError, match="another architecture \\(model: checkpoint 'dmf', model 'imf'"):
        load_checkpoint(tmp_path / "c.npz", other)
    wider, _ = build(config(shared_dims=(16, 9, 8)))
    with pytest.raises(CheckpointError, match="shared_dims: checkpoint \\[16, 8, 8\\], model \\[16, 9, 8\\]"):
        load_checkpoint(tmp_path / "c.npz", wider)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing"])
def test_unreadable_checkpoints_give_a_clear_error(tmp_path, damage):
    model, opt = build(config())
    path = tmp_path / "c.npz"
    save_checkpoint(path, model, opt, epoch=0, rng=np.random.default_rng(), history=[])
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:2000])
    elif damage == "garbage":
        path.write_bytes(b"not a zip file at all")
    else:
        path.unlink()
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(path, model)


def test_a_failed_checkpoint_write_leaves_the_previous_file_intact(tmp_path, monkeypatch):
    model, opt = build(config())
    path = tmp_path / "c.npz"
    save_checkpoint(path, model, opt, epoch=0, rng=np.random.default_rng(), history=[])
    before = path.read_bytes()

    def disk_full(file, **arrays):
        file.write(b"partial")
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoint_module.np, "savez", disk_full)
    with pytest.raises(OSError):
        save_checkpoint(path, model, opt, epoch=0, rng=np.random.default_rng(), history=[])
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.npz"]  # no temporary file left behind


@pytest.mark.parametrize("kwargs, message", [
    (dict(model="xmf"), "model: expected one of"),
    (dict(damage=1.0), r"damage: expected a fraction in \[0, 1\), got 1.0"),
    (dict(epochs=0), "epochs: expected a positive integer"),
    (dict(optimizer="rmsprop"), "optimizer: expected one of"),
    (dict(lr=float("nan")), "lr: expected a positive, finite learning rate, got nan"),
    (dict(lr=0.0), "lr: expected a positive, finite learning rate"),
    (dict(momentum=1.0), r"momentum: expected a value in \[0, 1\)"),
    (dict(seed=-3), "seed: expected a non-negative integer, got -3"),
])
def test_bad_training_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_pretraining_initializes_the_encoder_and_is_skipped_on_resume(tmp_path):
    cfg = config(epochs=1, pretrain=1)
    lines = []
    run(cfg, data=synthetic_halves(), out_dir=tmp_path, log=lines.append)
    assert any("generative pretraining of the encoder, 1 epochs" in line for line in lines)
    lines.clear()
    run(cfg, data=synthetic_halves(), out_dir=tmp_path, resume=True, log=lines.append)
    assert not any("generative pretraining" in line for line in lines) and "resumed after epoch 1" in lines[0]
    with pytest.raises(ValueError, match=r"pretrain: expected a number of epochs \(0: none\), got -1"):
        config(model="imf", pretrain=-1)


def test_a_folder_holding_a_run_is_refused_unless_resumed(tmp_path):
    cfg = config(epochs=1)
    run(cfg, data=synthetic_halves(), out_dir=tmp_path, log=lambda line: None)
    before = (tmp_path / "checkpoint.npz").read_bytes()
    with pytest.raises(CheckpointError, match="a run is already in this folder; resume it"):
        run(cfg, data=synthetic_halves(), out_dir=tmp_path, log=lambda line: None)
    assert (tmp_path / "checkpoint.npz").read_bytes() == before


def test_a_refused_resume_leaves_the_runs_config_json_alone(tmp_path):
    run(config(model="imf", epochs=1), data=synthetic_halves(), out_dir=tmp_path, log=lambda line: None)
    with pytest.raises(CheckpointError, match="holds a run with other settings \\(model differ"):
        run(config(model="dmf", epochs=1), data=synthetic_halves(), out_dir=tmp_path, resume=True,
            log=lambda line: None)
    assert json.loads((tmp_path / "config.json").read_text())["model"] == "imf"


def test_table1_refuses_a_folder_of_a_run_with_other_settings(tmp_path):
    from dmf_numpy.experiments.table1 import run_table1

    full = {k: v for k, v in TrainConfig().to_dict().items() if k not in ("model", "damage", "seed", "pretrain")}
    saved = json.dumps({"train_config": full, "status": "done"})  # written before `pretrain` existed
    (tmp_path / "config.json").write_text(saved)
    with pytest.raises(ValueError, match=r"config.json: this folder holds a Table 1 run with other settings "
                                         r"\(epochs, subset differ\)"):
        run_table1(tmp_path, seeds=1, quick=True, data_dir=tmp_path / "no-data-needed", log=lambda line: None)
    assert (tmp_path / "config.json").read_text() == saved  # refused before anything was written
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a readable Table 1 config.json"):
        run_table1(tmp_path, seeds=1, log=lambda line: None)
