"""The protocol options beyond the committed runs' defaults (for the study of the paper's claims):
the per-block initialization, damage on the test images only, modality dropout, and generative
pretraining for all three models. Each default leaves the training exactly as it was."""

import json

import numpy as np
import pytest

from dmf_numpy import DMF, EMF, IMF, fit, gradcheck
from dmf_numpy.cli import main
from dmf_numpy.core.fusion import build_model
from dmf_numpy.datasets.halves import make_halves, shift_halves, split_halves
from dmf_numpy.experiments.train_run import TrainConfig, run
from dmf_numpy.training.checkpoint import CheckpointError, load_checkpoint, read_checkpoint

from helpers import SMALL, SMALL_ARCH, synthetic_halves, two_modalities


def quiet(line):
    pass


# ---------------------------------------------------------------- (c) the initialization

@pytest.mark.parametrize("cls", [EMF, IMF, DMF])
def test_fan_in_init_draws_each_block_within_one_over_root_of_its_own_input(cls):
    model = cls(**SMALL, init="fan_in", seed=3)
    for name, W in model.params.items():
        if name.startswith("W_"):
            assert np.abs(W).max() <= 1 / np.sqrt(W.shape[1]) and np.abs(W).max() > 0.5 / np.sqrt(W.shape[1])
    blocks = {"b_s.2": ["W_xs.2", "W_ys.2", "W_s.1"], "b_out": ["W_out"]}
    if cls is DMF:
        for bias, feeding in blocks.items():  # the bias: one draw per block feeding the layer, summed
            bound = sum(1 / np.sqrt(model.params[w].shape[1]) for w in feeding)
            assert 0 < np.abs(model.params[bias]).max() <= bound
    rng = np.random.default_rng(0)
    errors = gradcheck(model.astype(np.float64), rng.uniform(size=(4, 6)), rng.uniform(size=(4, 7)), [0, 1, 2, 1])
    assert max(errors.values()) < 1e-7


def test_the_init_is_part_of_the_architecture():
    model = DMF(**SMALL, init="fan_in")
    assert build_model(model.config()).init == "fan_in" and model.astype(np.float64).init == "fan_in"
    assert all(np.array_equal(DMF(**SMALL).params[k], DMF(**SMALL, init="glorot").params[k]) for k in model.params)
    with pytest.raises(ValueError, match=r"init: expected one of \['glorot', 'fan_in'\], got 'he'"):
        DMF(**SMALL, init="he")


def test_a_checkpoint_of_another_init_is_refused(tmp_path):
    x, y, labels = two_modalities(40, 0)
    fit(IMF((12, 6), (5, 6), (6, 4), n_classes=4), x, y, labels, epochs=1, out_dir=tmp_path, log=quiet)
    with pytest.raises(CheckpointError, match="init: checkpoint 'glorot', model 'fan_in'"):
        load_checkpoint(tmp_path / "checkpoint.npz", IMF((12, 6), (5, 6), (6, 4), n_classes=4, init="fan_in"))


# ---------------------------------------------------------------- (b) where the damage goes

def fake_images(seed=0):
    rng = np.random.default_rng(seed)
    return {"train_images": rng.integers(0, 256, (60, 28, 28), dtype=np.uint8),
            "train_labels": rng.integers(0, 10, 60).astype(np.uint8),
            "test_images": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
            "test_labels": rng.integers(0, 10, 20).astype(np.uint8)}


def test_damage_on_the_test_images_only_leaves_training_intact_and_tests_as_before():
    images = fake_images()
    everywhere = make_halves(images, damage_p=0.5, n_val=10, seed=2)
    test_only = make_halves(images, damage_p=0.5, damage_train=False, n_val=10, seed=2)
    intact = make_halves(images, damage_p=0.0, n_val=10, seed=2)
    assert np.array_equal(test_only.train[1], intact.train[1])
    assert not np.array_equal(everywhere.train[1], intact.train[1])
    for split in ("val", "test"):  # the same masks as with the damage everywhere
        assert np.array_equal(getattr(test_only, split)[1], getattr(everywhere, split)[1])


# ---------------------------------------------------------------- beyond the paper: modality dropout

def test_modality_dropout_zeroes_one_modality_of_that_fraction_of_the_samples():
    x, y, labels = two_modalities(2000, 0)
    model = IMF((12, 6), (5, 6), (6, 4), n_classes=4)
    seen = []
    original = model.loss_and_grads

    def spy(xb, yb, lb):
        seen.append((np.all(xb == 0, axis=1), np.all(yb == 0, axis=1)))
        return original(xb, yb, lb)

    model.loss_and_grads = spy
    fit(model, x, y, labels, epochs=1, modality_dropout=0.4, log=quiet)
    no_x, no_y = (np.concatenate(parts) for parts in zip(*seen))
    assert not np.any(no_x & no_y)
    assert abs(no_x.mean() - 0.2) < 0.03 and abs(no_y.mean() - 0.2) < 0.03


def test_modality_dropout_is_seeded_resumable_and_off_by_default(tmp_path):
    x, y, labels = two_modalities(120, 0)

    def trained(**options):
        model = DMF((12, 6), (5, 6), (6, 4), n_classes=4)
        fit(model, x, y, labels, epochs=2, batch_size=30, log=quiet, **options)
        return model.params

    plain, zero, dropped, again = trained(), trained(modality_dropout=0.0), trained(modality_dropout=0.5), \
        trained(modality_dropout=0.5)
    assert all(np.array_equal(plain[k], zero[k]) for k in plain)  # p = 0 draws nothing: as before
    assert all(np.array_equal(dropped[k], again[k]) for k in plain)
    assert not np.array_equal(plain["W_out"], dropped["W_out"])

    def stop_after_epoch_1(line):
        if line.startswith("epoch 1/2"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fit(DMF((12, 6), (5, 6), (6, 4), n_classes=4), x, y, labels, epochs=2, batch_size=30, modality_dropout=0.5,
            out_dir=tmp_path, log=stop_after_epoch_1)
    resumed = DMF((12, 6), (5, 6), (6, 4), n_classes=4)
    fit(resumed, x, y, labels, epochs=2, batch_size=30, modality_dropout=0.5, out_dir=tmp_path, resume=True,
        log=quiet)
    assert all(np.array_equal(dropped[k], resumed.params[k]) for k in dropped)


# ---------------------------------------------------------------- (a) pretraining, for every model

@pytest.mark.parametrize("model", ["emf", "imf", "dmf"])
def test_every_model_can_be_pretrained_then_fine_tuned(tmp_path, model):
    lines = []
    config = TrainConfig(**SMALL_ARCH, model=model, epochs=1, batch_size=50, pretrain=1, init="fan_in",
                         modality_dropout=0.3)
    run(config, data=synthetic_halves(), out_dir=tmp_path, log=lines.append)
    assert any("generative pretraining of the encoder, 1 epochs" in line for line in lines)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert (saved["model"], saved["pretrain"], saved["init"], saved["modality_dropout"]) == (model, 1, "fan_in", 0.3)


def test_a_modality_dropout_outside_0_1_is_named(tmp_path, capsys):
    assert main(["train", "--modality-dropout", "1.5", "--out", str(tmp_path / "o"), "--data-dir", str(tmp_path)]) == 2
    assert "modality_dropout: expected a fraction in [0, 1), got 1.5" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [(["--init", "he"], "argument --init: invalid choice: 'he'"),
                                           (["--damage-on", "train"], "argument --damage-on: invalid choice: 'train'")])
def test_unknown_protocol_choices_are_named(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(["train", *argv])
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_the_damage_protocol_is_refused_with_arrays(tmp_path, capsys):
    x, y, labels = two_modalities(50, 0)
    np.savez(tmp_path / "a.npz", x=x, y=y, labels=labels)
    argv = ["train", "--arrays", str(tmp_path / "a.npz"), "--damage-on", "test", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    assert "damage_on: only for the MNIST halves" in capsys.readouterr().err


# ---------------------------------------------------------------- regularization: shifted training digits

def reference_shift(image, dr, dc):
    """One (28, 28) image moved by (dr, dc) pixels with zeros shifted in, the slow obvious way."""
    moved = np.zeros_like(image)
    for i in range(28):
        for j in range(28):
            if 0 <= i - dr < 28 and 0 <= j - dc < 28:
                moved[i, j] = image[i - dr, j - dc]
    return moved


def test_shift_halves_moves_each_whole_digit_across_the_cut_like_the_obvious_loop():
    images = fake_images()["train_images"][:6]
    left, right = split_halves(images)
    rng = np.random.default_rng(5)
    offsets = np.random.default_rng(5).integers(-2, 3, size=(2, 6, 1, 1))
    moved_left, moved_right = shift_halves(left, right, rng, 2)
    moved = np.concatenate([moved_left.reshape(6, 28, 14), moved_right.reshape(6, 28, 14)], axis=2)
    for k in range(6):
        expected = reference_shift(images[k], offsets[0, k, 0, 0], offsets[1, k, 0, 0]).astype(np.float32) / 255
        assert np.array_equal(moved[k], expected)
    assert len({(r, c) for r, c in offsets[:, :, 0, 0].T}) > 1  # the samples moved differently
    assert moved_left.dtype == left.dtype and not np.shares_memory(moved_left, left)


def test_shift_zero_is_the_identity_and_draws_nothing():
    left, right = split_halves(fake_images()["train_images"][:4])
    rng = np.random.default_rng(1)
    assert shift_halves(left, right, rng, 0) == (left, right)
    assert rng.integers(1 << 30) == np.random.default_rng(1).integers(1 << 30)


def test_shifted_training_is_seeded_resumable_and_off_by_default(tmp_path):
    data = synthetic_halves(n=200)

    def trained(out=None, log=quiet, resume=False, **options):
        result = run(TrainConfig(**SMALL_ARCH, epochs=2, batch_size=50, **options), data=data, out_dir=out,
                     resume=resume, log=log)
        return result["model"].params

    plain, zero, shifted, again = trained(), trained(shift=0), trained(shift=2), trained(shift=2)
    assert all(np.array_equal(plain[k], zero[k]) for k in plain)
    assert all(np.array_equal(shifted[k], again[k]) for k in plain)
    assert not np.array_equal(plain["W_out"], shifted["W_out"])

    def stop_after_epoch_1(line):
        if "epoch 1/2" in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        trained(tmp_path / "run", log=stop_after_epoch_1, shift=2)
    with pytest.raises(CheckpointError, match="shift"):  # a resume with another shift is refused
        trained(tmp_path / "run", resume=True, shift=1)
    resumed = trained(tmp_path / "run", resume=True, shift=2)
    assert all(np.array_equal(shifted[k], resumed[k]) for k in shifted)


@pytest.mark.parametrize("shift", [-1, 14, 1.5, True])
def test_a_shift_that_is_not_a_small_whole_number_of_pixels_is_named(shift):
    with pytest.raises(ValueError, match=r"shift: expected a whole number of pixels in \[0, 14\)"):
        TrainConfig(shift=shift)


def test_the_shift_is_refused_with_arrays_and_typed_on_the_command_line(tmp_path, capsys):
    x, y, labels = two_modalities(50, 0)
    np.savez(tmp_path / "a.npz", x=x, y=y, labels=labels)
    assert main(["train", "--arrays", str(tmp_path / "a.npz"), "--shift", "1", "--out", str(tmp_path / "o")]) == 2
    assert "shift: only for the MNIST halves" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--shift", "-2"])
    assert "argument --shift" in capsys.readouterr().err


def forget_setting(checkpoint, key, version=2):
    """Rewrite a checkpoint as an older version, before ``key`` existed, would have written it."""
    meta, arrays = read_checkpoint(checkpoint)
    del meta["train_config"][key]
    meta["version"] = version
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(checkpoint, **arrays)


def test_a_checkpoint_written_before_an_option_existed_is_refused_naming_its_version(tmp_path):
    """A checkpoint has no defaults for settings added since (format version 3 records them all):
    one without ``shift`` is refused, naming its format version and what to do, even when the
    resume asks for shift's default; a config.json, which has no version, still compares a
    missing field as its default (the committed results' folders predate some fields)."""
    data = synthetic_halves(n=100)

    def train(resume=False, log=quiet, **options):
        run(TrainConfig(**SMALL_ARCH, epochs=2, batch_size=50, **options), data=data, out_dir=tmp_path,
            resume=resume, log=log)

    def stop_after_epoch_1(line):
        if "epoch 1/2" in line:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(log=stop_after_epoch_1)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["shift"]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"config.json: .*\(shift differ\)"):  # against its default
        train(resume=True, shift=1)
    forget_setting(tmp_path / "checkpoint.npz", "shift")
    with pytest.raises(CheckpointError, match="checkpoint of format version 2, written by an older dmf-numpy "
                                              "that did not record shift; .*train again"):
        train(resume=True)  # shift's default, which the config.json accepts
    forget_setting(tmp_path / "checkpoint.npz", "seed", version=3)  # this version, a key the caller adds
    with pytest.raises(CheckpointError, match=r"other settings \(seed, shift not recorded in it\)"):
        load_checkpoint(tmp_path / "checkpoint.npz", build_model(TrainConfig(**SMALL_ARCH).to_dict()),
                        settings={"shift": 0, "seed": 0})
