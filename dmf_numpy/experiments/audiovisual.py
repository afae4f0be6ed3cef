r"""Audio-visual recognition after the protocol of the paper's Table 2 (Sec. 3.2), on a
substitute data set: spoken digits (FSDD) paired with handwritten digits (MNIST).

The paper's AVLetters2 (spoken and lip-read letters) cannot be obtained here. This module keeps
its *protocol* and replaces its data, as the "AV-MNIST" benchmarks of the multimodal literature
do. Its numbers are therefore not comparable with the paper's; the table quotes the paper's
apart, for context only.

Data
----
- **Audio** (modality x): every FSDD recording (:mod:`dmf_numpy.datasets.fsdd`) as a 200-number vector,
  20 MFCCs averaged over 10 equal time segments of the clip (:class:`~dmf_numpy.datasets.audio.AudioFeatures`
  with its defaults), standardized with the training clips' mean and standard deviation.
- **Visual** (modality y): an MNIST image of the *same digit*, 784 pixels / 255, drawn at random
  for each clip under the seed (:func:`pair_images`): training clips with MNIST training images,
  test clips with MNIST test images. Each seed draws a new pairing.
- **Speaker-independent split**, like the paper's "four people for training and the rest for
  testing": :data:`TRAIN_SPEAKERS` (george, jackson, lucas, nicolas; 2,000 clips) train,
  :data:`TEST_SPEAKERS` (theo, yweweler; 1,000 clips) test. The first four in alphabetical
  order, fixed before any result was seen.

Protocol
--------
1. A generative fusion model (the paper's "encoder-decoder" framework, Fig. 3 right) is trained
   *without labels* on the training pairs to reconstruct both modalities from both or either
   one (:func:`dmf_numpy.training.loop.fit_generative`: each sample sees both, audio only or image only, one
   third each), with the losses weighted per feature (λ_x = 1/200,
   λ_y = 1/784).
2. The joint representation s_L of each clip is computed under three input conditions:
   **A** (the image zeroed), **V** (the audio zeroed), **A+V** (both), as in the paper's "for the
   unimodal input, one modality is preserved while the other one is set to zero".
3. A linear SVM (:mod:`dmf_numpy.experiments.svm`) is trained on the training clips' representations and
   tested on the test clips', in the same condition. Its penalty is chosen among
   :data:`SVM_REGS` on a validation speaker (:data:`VALIDATION_SPEAKER`, one of the four
   training speakers; :func:`~dmf_numpy.experiments.svm.fit_validated`), then it is retrained on all four.
   Every representation is standardized with its training mean and standard deviation first.

**EMF, IMF and DMF in the same pipeline.** :class:`~dmf_numpy.core.generative.GenerativeDMF` with
``encoder="emf"`` or ``"imf"`` has its encoder swapped for an EMF or an IMF of the same sizes
(:mod:`dmf_numpy.core.fusion`); the decoder, the losses and the training are the same for
all three, and so is the decoder's initialization. Only the encoder, which computes the joint
representation the SVM sees, differs. The decoder is the dense-fusion mirror image of a DMF
(``core/generative.py``), not the mirror image of each encoder: a choice that keeps the
reconstruction side identical, so that the comparison is between the fusion strategies alone.

**Baselines.** The same validated SVM on the raw features: the audio vector (A), the pixels (V),
and both concatenated (A+V, early fusion without any learning).

Sizes (:data:`SETTINGS`): audio tower (200, 128, 64), visual tower (784, 256, 64), shared
layers (256, 128, 64). The paper's shared pathway is (1024, 512, 256) on AVLetters2's larger
inputs; smaller layers fit 2,000 training pairs and a CPU budget of minutes.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np

from ..core.checks import check_positive_int
from ..core.errors import UserError
from ..core.generative import GenerativeDMF
from ..datasets.audio import AudioFeatures
from ..datasets.fsdd import load_fsdd
from ..datasets.mnist import load_mnist
from ..datasets.store import DataError
from ..files import write_csv, write_json, write_text
from ..training.loop import fit_generative
from .claims import score_claims, write_score_claims
from .common import (PAIRED_SEEDS, as_json_settings, check_settings, holds_output_folder, machine_description,
                     machine_record, mean_std, standardize)
from .paper import PAPER_TABLE2
from .svm import fit_validated

TRAIN_SPEAKERS = ("george", "jackson", "lucas", "nicolas")
"""Speakers whose clips train the fusion models and the SVMs."""

TEST_SPEAKERS = ("theo", "yweweler")
"""Speakers whose clips are the test set."""

VALIDATION_SPEAKER = "nicolas"
"""The training speaker held out to choose each SVM's penalty."""

SVM_REGS = (1e-2, 1e-1, 1.0, 10.0)
"""λ candidates of the SVM (penalty per sample; see :mod:`dmf_numpy.experiments.svm`)."""

CONDITIONS = ("A", "V", "A+V")
"""Test inputs: audio only (image zeroed), visual only (audio zeroed), both."""

FUSIONS = ("emf", "imf", "dmf")
"""The fusion models compared, in the paper's order."""

AUDIO_FEATURES = AudioFeatures()
"""The audio front end: 20 MFCCs x 10 time segments = 200 numbers per clip."""

IMAGE_SIZE = 784
"""MNIST pixels."""

SETTINGS = {
    "x_dims": (AUDIO_FEATURES.size, 128, 64),
    "y_dims": (IMAGE_SIZE, 256, 64),
    "shared_dims": (256, 128, 64),
    "epochs": 80,
    "batch_size": 50,
    "lr": 1e-3,
}
"""Sizes and training of the generative models (x: audio, y: image)."""

# --------------------------------------------------------------------------------------------
# The data
# --------------------------------------------------------------------------------------------


def pair_images(digits, image_labels, rng):
    """For each clip, the index of a random image of the same digit.

    Parameters
    ----------
    digits : ndarray of int, (N,)
        The digit of each clip.
    image_labels : ndarray of int, (M,)
        The digit of each image.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of int64, (N,)
        ``image_labels[result] == digits``; each image drawn uniformly among those of its digit,
        independently for every clip (an image may serve several clips).

    Notes
    -----
    Without a loop: the image indices sorted by digit put digit d's c_d images at
    positions o_d .. o_d + c_d - 1, and a clip of digit d takes position
    o_d + ⌊u c_d⌋ for a uniform u ∈ [0, 1).
    """
    digits, image_labels = np.asarray(digits), np.asarray(image_labels)
    missing = np.setdiff1d(digits, image_labels)
    if missing.size:
        raise UserError(f"image_labels: no image of digit(s) {missing.tolist()} to pair with")
    by_digit = np.argsort(image_labels, kind="stable")
    counts = np.bincount(image_labels, minlength=digits.max() + 1)
    offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = offsets[digits] + np.floor(rng.random(len(digits)) * counts[digits]).astype(np.int64)
    return by_digit[position]


def load_audiovisual(data_dir=None, *, subset=None):
    """The audio features, MNIST and the speaker split.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        A root holding ``fsdd/`` and ``mnist/`` (see :func:`dmf_numpy.datasets.fsdd.load_fsdd` and
        :func:`dmf_numpy.datasets.mnist.load_mnist`); None: ``DMF_NUMPY_DATA``, then the user cache.
    subset : int, optional
        Keep only takes 0 .. subset-1 of every speaker and digit (``10 * subset`` clips per
        speaker), for quick runs.

    Returns
    -------
    dict
        ``audio`` {"train", "test"}: standardized features (N, 200); ``digits`` {"train",
        "test"}: (N,); ``validation``: bool (N_train,), the clips of :data:`VALIDATION_SPEAKER`;
        ``mnist``: the arrays of :func:`~dmf_numpy.datasets.mnist.load_mnist`; ``folder``: the FSDD folder.

    Raises
    ------
    DataError
        If a speaker of the split has no clip.
    """
    if subset is not None:
        subset = check_positive_int("subset", subset)
    fsdd = load_fsdd(data_dir)
    keep = np.ones(len(fsdd.digits), dtype=bool) if subset is None else fsdd.takes < subset
    absent = sorted(set(TRAIN_SPEAKERS + TEST_SPEAKERS) - set(fsdd.speakers[keep]))
    if absent:
        raise DataError(f"{fsdd.folder}: no recording of speaker(s) {', '.join(absent)}, needed for "
                        f"the split {TRAIN_SPEAKERS} / {TEST_SPEAKERS}")
    filterbank = AUDIO_FEATURES.filterbank()
    features = np.stack([AUDIO_FEATURES(s, filterbank) for s, k in zip(fsdd.signals, keep) if k])
    speakers, digits = fsdd.speakers[keep], fsdd.digits[keep]
    split = {"train": np.isin(speakers, TRAIN_SPEAKERS), "test": np.isin(speakers, TEST_SPEAKERS)}
    audio = dict(zip(split, standardize(features[split["train"]], features[split["test"]])))
    return {"audio": audio, "digits": {name: digits[rows] for name, rows in split.items()},
            "validation": speakers[split["train"]] == VALIDATION_SPEAKER,
            "mnist": load_mnist(data_dir), "folder": fsdd.folder}


def condition_inputs(audio, image, condition):
    """The encoder's inputs ``(audio, image)`` for a condition of :data:`CONDITIONS`, the
    withheld modality replaced by zeros."""
    if condition not in CONDITIONS:
        raise UserError(f"condition: expected one of {CONDITIONS}, got {condition!r}")
    return (audio if "A" in condition else np.zeros_like(audio),
            image if "V" in condition else np.zeros_like(image))


def svm_accuracy(train_features, test_features, data):
    """Test accuracy (%) of the validated SVM on standardized features, and the chosen penalty."""
    train, test = standardize(train_features, test_features)
    svm, _ = fit_validated(train, data["digits"]["train"], data["validation"], SVM_REGS)
    return 100 * svm.score(test, data["digits"]["test"]), svm.reg


def run_seed(data, seed, settings, log):
    """Baselines and the three fusion models for one seed: ``{row: {condition: accuracy}}``
    and ``{row: {condition: chosen penalty}}``."""
    rng = np.random.default_rng([seed, 7])
    mnist = data["mnist"]
    image = {name: mnist[f"{name}_images"][pair_images(data["digits"][name], mnist[f"{name}_labels"], rng)]
             .reshape(-1, IMAGE_SIZE).astype(np.float32) / 255 for name in ("train", "test")}
    audio = data["audio"]
    raw = {"A": audio, "V": image,
           "A+V": {name: np.hstack([audio[name], image[name]]) for name in ("train", "test")}}
    accuracy, regs = {"raw SVM": {}}, {"raw SVM": {}}
    for condition, features in raw.items():
        accuracy["raw SVM"][condition], regs["raw SVM"][condition] = svm_accuracy(
            features["train"], features["test"], data)
    for fusion in FUSIONS:
        start = time.perf_counter()
        model = GenerativeDMF(settings["x_dims"], settings["y_dims"], settings["shared_dims"],
                              x_output="linear", y_output="sigmoid", x_weight=1 / settings["x_dims"][0],
                              y_weight=1 / settings["y_dims"][0], encoder=fusion, seed=seed)
        history = fit_generative(model, audio["train"], image["train"], epochs=settings["epochs"],
                      batch_size=settings["batch_size"], lr=settings["lr"], seed=seed, log=lambda line: None)
        row = fusion.upper()
        accuracy[row], regs[row] = {}, {}
        for condition in CONDITIONS:
            codes = {name: model.encode(*condition_inputs(audio[name], image[name], condition))
                     for name in ("train", "test")}
            accuracy[row][condition], regs[row][condition] = svm_accuracy(codes["train"], codes["test"], data)
        log(f"  seed {seed} {row}: " + "  ".join(f"{c} {accuracy[row][c]:.2f}" for c in CONDITIONS)
            + f"  (final loss {history[-1]['train_loss']:.4f}, {time.perf_counter() - start:.0f} s)")
    return accuracy, regs


# --------------------------------------------------------------------------------------------
# Table 2
# --------------------------------------------------------------------------------------------

ROWS = ("raw SVM", "EMF", "IMF", "DMF")
"""Rows of the measured table: the baseline, then the fusion models."""


def seed_mean_std(result, row, condition):
    """Mean and standard deviation (ddof=1; 0 for one seed) over the seeds of one accuracy."""
    return mean_std(seed[row][condition] for seed in result["per_seed"])


def table2_markdown(result):
    """Table 2 as Markdown: measured accuracies, then the paper's AVLetters2 numbers apart."""
    n_seeds = len(result["per_seed"])
    lines = [
        f"**Table 2 (substitute data set).** Test accuracy (%) of audio-visual digit recognition: "
        f"FSDD spoken digits, each paired with a random MNIST image of the same digit (a new pairing "
        f"per seed), speaker-independent (train: {', '.join(TRAIN_SPEAKERS)}; test: "
        f"{', '.join(TEST_SPEAKERS)}; {result['n_train']} training and {result['n_test']} test clips). "
        f"Mean ± std over {n_seeds} seed(s). A: image zeroed; V: audio zeroed.",
        "",
        "| model | A | V | A+V |",
        "|---|---|---|---|",
    ]
    names = {"raw SVM": "SVM on raw features (A: audio, V: pixels, A+V: both concatenated)",
             **{row: f"generative {row} + SVM" for row in ROWS[1:]}}
    for row in ROWS:
        cells = ["{:.2f} ± {:.2f}".format(*seed_mean_std(result, row, c)) for c in CONDITIONS]
        lines.append(f"| {names[row]} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "This is **not** the paper's data set. The paper's Table 2 is on AVLetters2 (spoken and "
        "lip-read letters); its numbers, quoted for context only, are not comparable with the above:",
        "",
        "| AVLetters2 (paper) | A | V | A+V |",
        "|---|---|---|---|",
    ]
    for name, scores in PAPER_TABLE2.items():
        lines.append(f"| {name} | " + " | ".join("-" if scores[c] is None else f"{scores[c]:.2f}"
                                                for c in CONDITIONS) + " |")
    lines += [
        "",
        "Protocol: each generative model is trained without labels to reconstruct audio and image "
        "from both or either one; a linear SVM (one-vs-rest, squared hinge, L2) is trained on the "
        "joint representation of the training clips and tested on the test clips, in the same input "
        f"condition, its penalty chosen among {list(SVM_REGS)} on the training speaker "
        f"{VALIDATION_SPEAKER}. EMF and IMF are GenerativeDMF with the encoder swapped (same decoder, "
        "losses and training); see dmf_numpy/audiovisual.py. The layers are smaller than the paper's "
        "(its shared pathway is [1024, 512, 256]).",
        "",
        f"Subset: takes 0..{result['subset'] - 1} of every speaker and digit." if result["subset"]
        else "All 3,000 FSDD clips.",
        f"Settings: {json.dumps(result['settings'])}; audio features: {json.dumps(result['audio_features'])}. "
        f"Time: {result['seconds']:.0f} s ({result['machine']}).",
    ]
    return "\n".join(lines) + "\n"


def table2_rows(result):
    """CSV rows: one per (model, condition), the measured mean and std and the seeds."""
    rows = []
    for row in ROWS:
        for c in CONDITIONS:
            mean, std = seed_mean_std(result, row, c)
            rows.append({"model": row, "condition": c, "accuracy_mean": round(mean, 2),
                         "accuracy_std": round(std, 2), "n_seeds": len(result["per_seed"])})
    return rows


@holds_output_folder
def run_audiovisual(out_dir, *, seeds=PAIRED_SEEDS, epochs=SETTINGS["epochs"], data_dir=None, subset=None,
                    log=print, **settings):
    """Table 2's protocol on FSDD + MNIST, written to ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Receives ``table2.md``, ``table2.csv``, ``claims.md``, ``claims.csv`` (the verdicts on
        the paper's claims over the paired seeds) and ``results.json`` (every accuracy per seed,
        the chosen SVM penalties, the settings and the time taken).
    seeds : int
        Seeds 0 .. seeds-1: each draws its own image pairing and trains its own models.
    epochs : int
        Training epochs of each generative model.
    data_dir : str or Path, optional
        A root holding ``fsdd/`` and ``mnist/``; see :func:`load_audiovisual`.
    subset : int, optional
        Only takes 0 .. subset-1 of every speaker and digit: a quick run, not the full protocol.
    log : callable
    **settings
        Other overrides of :data:`SETTINGS` (``x_dims``, ``y_dims``, ``shared_dims``,
        ``batch_size``, ``lr``). ``x_dims[0]`` must be 200 and ``y_dims[0]`` 784.

    Returns
    -------
    dict
        ``per_seed`` (a list of ``{row: {condition: accuracy %}}``), ``svm_regs`` (likewise,
        the chosen penalties), the settings and counts; as written to ``results.json``.
    """
    seeds, epochs = check_positive_int("seeds", seeds), check_positive_int("epochs", epochs)
    if subset is not None:
        subset = check_positive_int("subset", subset)
    settings = {**check_settings(settings, SETTINGS), "epochs": epochs}
    start = time.perf_counter()
    data = load_audiovisual(data_dir, subset=subset)
    n_train, n_test = len(data["digits"]["train"]), len(data["digits"]["test"])
    log(f"Table 2 (FSDD + MNIST): {n_train} training and {n_test} test clips from {data['folder']}")
    per_seed, svm_regs = [], []
    for seed in range(seeds):
        accuracy, regs = run_seed(data, seed, settings, log)
        per_seed.append(accuracy)
        svm_regs.append(regs)
        log(f"  seed {seed} raw SVM: " + "  ".join(f"{c} {accuracy['raw SVM'][c]:.2f}" for c in CONDITIONS)
            + f"  ({time.perf_counter() - start:.0f} s so far)")
    result = {
        "per_seed": per_seed, "svm_regs": svm_regs, "paper_avletters2": PAPER_TABLE2,
        "n_train": n_train, "n_test": n_test, "subset": subset,
        "split": {"train": TRAIN_SPEAKERS, "test": TEST_SPEAKERS, "validation": VALIDATION_SPEAKER},
        "settings": as_json_settings(settings),
        "audio_features": dataclasses.asdict(AUDIO_FEATURES),
        "data": str(data["folder"]),
        "seconds": time.perf_counter() - start,
        "machine": machine_description(), "reproducibility": machine_record(),
    }
    write_table2(out_dir, result)
    log(f"wrote {out_dir}/table2.md, table2.csv, claims.md, claims.csv, results.json ({result['seconds']:.0f} s)")
    return result


#: The paper's claims on Table 2, tested here (family ``table2``): DMF's accuracy is higher than
#: EMF's and IMF's in every input condition. Apart (family ``context``): DMF against the SVM on
#: the raw features, both modalities.
TABLE2_CLAIMS = tuple((other, condition) for condition in CONDITIONS for other in ("EMF", "IMF"))
CONTEXT_CLAIMS = (("raw SVM", "A+V"),)


def table2_claims(result):
    """The verdicts on :data:`TABLE2_CLAIMS` and :data:`CONTEXT_CLAIMS` over the paired seeds of
    ``result`` (:func:`~dmf_numpy.experiments.claims.score_claims`)."""
    return (score_claims(result["per_seed"], TABLE2_CLAIMS, "table2")
            + score_claims(result["per_seed"], CONTEXT_CLAIMS, "context"))


def write_table2(out_dir, result):
    """Write ``table2.md``, ``table2.csv``, ``claims.md``, ``claims.csv`` and ``results.json``
    of a :func:`run_audiovisual` result into ``out_dir``."""
    out_dir, claims = Path(out_dir), table2_claims(result)
    write_text(out_dir / "table2.md", table2_markdown(result))
    write_csv(out_dir / "table2.csv", table2_rows(result))
    write_score_claims(out_dir, claims, (
        f"**Table 2's claims, over {len(result['per_seed'])} paired seeds** (each seed draws the image pairing and "
        "trains every model). Test accuracy (%); effect: DMF minus the other (positive: DMF better), its 95 % "
        "interval, the paired t-test's p-value and Holm's adjustment within the family (table2: DMF against EMF "
        "and IMF in every condition; context: against the SVM on the raw features)."))
    write_json(out_dir / "results.json", result)
