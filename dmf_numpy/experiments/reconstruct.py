"""Cross-modal inference on MNIST: the left half of a digit inferred from its right half.

The generative DMF (:mod:`dmf_numpy.core.generative`) is trained on the MNIST halves (left = x,
right = y, sigmoid outputs with binary cross-entropy) to reconstruct both halves from both or
either one (:func:`dmf_numpy.training.loop.fit_generative`). It is then given only the right half of each test
digit, the left half zeroed (the "right modality" input of Table 1), and its reconstruction of
the left half is compared with the truth. :func:`run_reconstruct` writes, into one folder:

- ``reconstruct.png``: one test digit of each class per column; rows: the input (right half
  only), the reconstructed left half next to that right half, the true digit;
- ``results.json``: the mean reconstruction errors on the test set, the settings, the training
  history and the time taken.

The reconstruction error of the left half is the mean squared error per pixel (pixels in
[0, 1]), averaged over the test set. Two references put it in scale: the same error with both
halves as input (plain autoencoding of the left half), and that of the best constant guess,
the mean left half of the training set.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..core.checks import check_positive_int
from ..core.generative import GenerativeDMF
from ..datasets.halves import HALF_WIDTH, load_halves
from ..datasets.mnist import MNIST_IMAGE_SIZE
from ..files import write_json
from ..training.loop import fit_generative
from .common import as_json_settings, check_settings, holds_output_folder, machine_description, new_figure, save_figure
from .paper import PAPER_SIZES

RECONSTRUCT_SETTINGS = {"x_dims": PAPER_SIZES["x_dims"], "y_dims": PAPER_SIZES["y_dims"],
                        "shared_dims": PAPER_SIZES["shared_dims"], "batch_size": 100, "lr": 1e-3}
"""Layer sizes (the paper's MNIST sizes, Sec. 3.1, mirrored by the decoder) and Adam settings."""


def join_halves(left, right):
    """Put half images side by side: ``(N, 392)`` and ``(N, 392)`` -> ``(N, 28, 28)``."""
    shape = (-1, MNIST_IMAGE_SIZE, HALF_WIDTH)
    return np.concatenate([left.reshape(shape), right.reshape(shape)], axis=2)


def reconstruction_errors(model, test, train_left):
    """Mean squared error per pixel of the left half, over a test set.

    Parameters
    ----------
    model : GenerativeDMF
    test : tuple ``(left (N, 392), right (N, 392), labels (N,))``
    train_left : ndarray, (M, 392)
        The training left halves, for the constant baseline.

    Returns
    -------
    dict of str to float
        ``"right only"``: from the right half alone (left zeroed), the cross-modal inference;
        ``"left+right"``: from both halves; ``"mean image"``: the mean training left half.
    """
    left, right, _ = test
    errors = {}
    for condition, inputs in (("right only", (np.zeros_like(left), right)), ("left+right", (left, right))):
        left_hat, _ = model.reconstruct(*inputs)
        errors[condition] = float(np.mean((left_hat - left) ** 2))
    errors["mean image"] = float(np.mean((train_left.mean(axis=0) - left) ** 2))
    return errors


def plot_reconstructions(model, test, path):
    """Save the PNG grid described in the module docstring (one digit per class, 0 to 9)."""
    left, right, labels = test
    digits = np.unique(labels)
    first = np.argmax(labels[None, :] == digits[:, None], axis=1)  # first test image of each class
    left, right = left[first], right[first]
    left_hat, _ = model.reconstruct(np.zeros_like(left), right)
    rows = {
        "input: right half": join_halves(np.zeros_like(left), right),
        "inferred left half": join_halves(left_hat, right),
        "truth": join_halves(left, right),
    }
    fig = new_figure((1.1 * len(digits) + 1.2, 3.8))
    axes = fig.subplots(len(rows), len(digits), squeeze=False)
    for r, (title, images) in enumerate(rows.items()):
        for c, image in enumerate(images):
            ax = axes[r, c]
            ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.axvline(HALF_WIDTH - 0.5, color="tab:red", linewidth=0.6)  # the cut between halves
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(title, fontsize=8)
    save_figure(fig, path, dpi=100)


@holds_output_folder
def run_reconstruct(out_dir, *, epochs=20, damage=0.0, subset=None, seed=0, data_dir=None, log=print,
                    **settings):
    """Train the generative DMF on the MNIST halves and infer left halves from right halves.

    Parameters
    ----------
    out_dir : str or Path
        Receives ``reconstruct.png`` and ``results.json``.
    epochs : int
        Training epochs.
    damage : float in [0, 1)
        Fraction of right-half pixels zeroed, in training and test alike (the paper's damage,
        :func:`dmf_numpy.datasets.halves.damage`).
    subset : int, optional
        Use only this many samples of each split (e.g. 20000 for a run of a few minutes).
    seed : int
        Seeds the data split and damage, the initialization, the shuffling and the dropped
        modalities.
    data_dir : str or Path, optional
        Where MNIST is; see :func:`dmf_numpy.datasets.mnist.load_mnist`.
    log : callable
    **settings
        Overrides of :data:`RECONSTRUCT_SETTINGS`.

    Returns
    -------
    dict
        As written to ``results.json``: ``errors`` (see :func:`reconstruction_errors`),
        ``settings``, ``history`` and ``seconds``.
    """
    s = check_settings(settings, RECONSTRUCT_SETTINGS)
    epochs = check_positive_int("epochs", epochs)
    start = time.perf_counter()
    data = load_halves(data_dir, damage_p=damage, seed=seed, subset=subset)
    left, right, _ = data.train
    model = GenerativeDMF(s["x_dims"], s["y_dims"], s["shared_dims"], x_output="sigmoid",
                          y_output="sigmoid", seed=seed)
    log(f"Reconstruct: {model!r}, {len(left)} training pairs, right half {damage:.0%} damaged")
    history = fit_generative(model, left, right, epochs=epochs, batch_size=s["batch_size"], lr=s["lr"], seed=seed,
                             log=log)
    errors = reconstruction_errors(model, data.test, left)
    out_dir = Path(out_dir)
    plot_reconstructions(model, data.test, out_dir / "reconstruct.png")
    result = {
        "errors": errors,
        "error_definition": "mean squared error per pixel of the left half (pixels in [0, 1]) over the "
                            f"{len(data.test[2])} test images",
        "settings": {**as_json_settings(s), "epochs": epochs, "damage": damage, "subset": subset, "seed": seed},
        "history": history,
        "seconds": time.perf_counter() - start,
        "machine": machine_description(),
    }
    write_json(out_dir / "results.json", result)
    log("left-half reconstruction error (MSE per pixel, test set): " +
        ", ".join(f"{k} {v:.4f}" for k, v in errors.items()) +
        f"; wrote {out_dir}/reconstruct.png, results.json ({result['seconds']:.0f} s)")
    return result
