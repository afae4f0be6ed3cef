r"""Cross-modal retrieval on the Wikipedia data set: Table 3 of the paper (Sec. 3.3).

Protocol (the paper's, after Rasiwasia et al. 2010)
---------------------------------------------------
The 693 test pairs are the queries and the 2,173 training pairs the retrieval set (the paper's
"25 % of the data set as the query set and the rest for retrieval set"). Image-to-text (I2T):
an image queries the texts of the retrieval set; text-to-image (T2I): a text queries the
images. A retrieved item is relevant when its category equals the query's. Each query ranks the
whole retrieval set, and the score is the mean over queries of the average precision of that
full ranking (:func:`average_precision`). Labels are used for nothing else: both methods are
unsupervised.

Features are standardized with the training set's mean and standard deviation per feature
(:func:`~dmf_numpy.experiments.common.standardize`), so that the 128 SIFT bins (of very different scales) and the 10 LDA
topics enter the squared-error losses on an equal footing.

The joint space
---------------
- **DMF** (:class:`~dmf_numpy.core.generative.GenerativeDMF`, image = modality x, text = modality y,
  linear outputs): trained to reconstruct both modalities from both or either one
  (:func:`~dmf_numpy.training.loop.fit_generative`), each modality's squared error averaged over its features
  (weights λ_x = 1/128, λ_y = 1/10) so that the image does not
  outweigh the text 13 to 1. A query is encoded from its own modality with the other zeroed,
  s_L(x, 0) or s_L(0, y), and so is each retrieval item: the paper's "reconstruct
  both modalities based on the query modality".
- **CCA** (:class:`CCA`): the canonical variates of each modality.

In both, each modality's codes are centered with the mean of that modality's codes over the
retrieval set (for CCA they are centered already), and queries and items are compared by
cosine similarity (:func:`cosine_similarity`). Centering matters for DMF: its codes are sigmoid
outputs, all positive, and image-only and text-only codes sit around different means, so an
uncentered cosine is dominated by that common offset. Cosine, rather than Euclidean distance,
is the standard choice for CCA spaces (Rasiwasia et al.'s "normalized correlation") and makes
the two methods comparable. These choices and the DMF settings (:data:`DMF_SETTINGS`) were made
on a validation split of the *training* set (543 of its pairs querying the other 1,630), never
on the test queries (``derivations/05_generative.md`` lists the numbers).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import scipy.linalg

from ..core.checks import check_features, check_positive_int
from ..core.errors import UserError
from ..core.generative import GenerativeDMF
from ..datasets.wiki import IMAGE_SIZE, TEXT_SIZE, load_wiki
from ..files import write_csv, write_json, write_text
from ..training.loop import check_loop_arguments, fit_generative
from .claims import score_claims, write_score_claims
from .common import (PAIRED_SEEDS, as_json_settings, check_settings, holds_output_folder, machine_description,
                     machine_record, mean_std, standardize)
from .paper import PAPER_TABLE3

DIRECTIONS = {"I2T": ("x", "y"), "T2I": ("y", "x")}
"""Retrieval directions: (query modality, item modality); x is the image, y the text."""

ENCODERS = ("emf", "imf", "dmf")
"""The joint spaces compared with CCA: the generative model with each fusion as its encoder."""

DMF_SETTINGS = {
    "x_dims": (IMAGE_SIZE, 256, 128),
    "y_dims": (TEXT_SIZE, 64, 32),
    "shared_dims": (256, 128, 32),
    "x_weight": 1 / IMAGE_SIZE,
    "y_weight": 1 / TEXT_SIZE,
    "epochs": 200,
    "batch_size": 50,
    "lr": 1e-3,
}
"""The DMF used for Table 3 (chosen on the validation split; the paper gives none)."""

CCA_SETTINGS = {"n_components": TEXT_SIZE, "reg": 1e-3}
"""All min(128, 10) canonical pairs; the ridge r of :class:`CCA`."""


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def average_precision(similarity, query_labels, item_labels):
    r"""Average precision of every query over the full ranking of the retrieval set.

    Parameters
    ----------
    similarity : ndarray, (Q, R)
        ``similarity[q, r]``: how close item r is to query q (higher ranks first).
    query_labels : ndarray of int, (Q,)
    item_labels : ndarray of int, (R,)

    Returns
    -------
    ndarray, (Q,)
            AP_q = (1/R_q) Σ_{k=1}^{R} P_q(k) rel_q(k),   P_q(k) = (1/k) Σ_{i=1}^{k} rel_q(i),

        where rel_q(k) is 1 if the item ranked k-th shares the query's label and
        R_q is the number of such items. Items of equal similarity keep their order in
        the retrieval set (a stable sort), so the result is deterministic.

    Raises
    ------
    UserError
        On mismatched shapes, NaN or infinite similarities, or a query with no relevant item
        (its AP is undefined).
    """
    similarity = np.asarray(similarity)
    query_labels, item_labels = np.asarray(query_labels), np.asarray(item_labels)
    if similarity.ndim != 2 or similarity.shape != (query_labels.shape[0], item_labels.shape[0]):
        raise UserError(f"similarity: expected shape (n queries, n items) = ({query_labels.shape[0]}, "
                        f"{item_labels.shape[0]}), got {similarity.shape}")
    if not np.isfinite(similarity).all():
        raise UserError(f"similarity: expected finite values, got "
                        f"{similarity.size - np.count_nonzero(np.isfinite(similarity))} NaN or infinite entries")
    ranking = np.argsort(-similarity, axis=1, kind="stable")
    relevant = item_labels[ranking] == query_labels[:, None]  # (Q, R): rel_q(k)
    n_relevant = relevant.sum(axis=1)
    if n_relevant.min() == 0:
        q = int(np.argmin(n_relevant))
        raise UserError(f"query_labels: query {q} (label {query_labels[q]}) has no relevant item "
                        "in the retrieval set")
    precision_at_k = np.cumsum(relevant, axis=1) / np.arange(1, relevant.shape[1] + 1)
    return (precision_at_k * relevant).sum(axis=1) / n_relevant


def mean_average_precision(similarity, query_labels, item_labels):
    """mAP: the mean of :func:`average_precision` over the queries (a float)."""
    return float(average_precision(similarity, query_labels, item_labels).mean())


def cosine_similarity(queries, items):
    """Cosine of the angle between every query and every item.

    Parameters
    ----------
    queries : ndarray, (Q, k)
    items : ndarray, (R, k)

    Returns
    -------
    ndarray, (Q, R)
        A zero vector has similarity 0 to everything.
    """
    def unit(a):
        norm = np.linalg.norm(a, axis=1, keepdims=True)
        return a / np.where(norm > 0, norm, 1)

    return unit(queries) @ unit(items).T


def cross_modal_map(query_codes, item_codes, query_labels, item_labels):
    """I2T and T2I mAP of codes in a joint space, per the protocol of the module docstring.

    Parameters
    ----------
    query_codes, item_codes : dict of str to ndarray
        ``{"x": image codes (n, k), "y": text codes (n, k)}`` of the queries and of the
        retrieval set, each computed from that one modality.
    query_labels : ndarray of int, (Q,)
    item_labels : ndarray of int, (R,)

    Returns
    -------
    dict of str to float
        ``{"I2T": mAP, "T2I": mAP}``.
    """
    scores = {}
    for direction, (q, r) in DIRECTIONS.items():
        # Each modality's codes centered with its retrieval-set mean, then compared by cosine.
        similarity = cosine_similarity(query_codes[q] - item_codes[q].mean(axis=0),
                                       item_codes[r] - item_codes[r].mean(axis=0))
        scores[direction] = mean_average_precision(similarity, query_labels, item_labels)
    return scores


# --------------------------------------------------------------------------------------------
# The CCA baseline
# --------------------------------------------------------------------------------------------


def _inverse_sqrt(C):
    """C^{-1/2} of a symmetric positive definite matrix, by its eigendecomposition."""
    eigenvalues, eigenvectors = scipy.linalg.eigh(C)
    return (eigenvectors / np.sqrt(eigenvalues)) @ eigenvectors.T


class CCA:
    r"""Regularized canonical correlation analysis, the baseline of Table 3.

    Parameters
    ----------
    n_components : int
        Number k of canonical pairs kept (at most the smaller feature count).
    reg : float
        Ridge, relative to the mean variance of each modality (see Notes).

    Attributes
    ----------
    mean : dict of str to ndarray
        Training mean of ``"x"`` and ``"y"``.
    projection : dict of str to ndarray
        ``"x"``: A (d_x, k), ``"y"``: B (d_y, k).
    correlations : ndarray, (k,)
        The canonical correlations ρ_1 ≥ ... ≥ ρ_k.

    Notes
    -----
    With centered data X (n, d_x), Y (n, d_y) and covariances
    C_xy = X^T Y / (n-1) etc., CCA finds a, b maximizing the correlation
    a^T C_xy b / √(a^T C_xx a · b^T C_yy b). Whitening each side turns it into
    a singular value decomposition:

        C_xx^{-1/2} C_xy C_yy^{-1/2} = U Σ V^T,   A = C_xx^{-1/2} U_{:, 1..k},   B = C_yy^{-1/2} V_{:, 1..k},
        ρ = diag Σ_{1..k}.

    The covariances are regularized, C_xx + r_x I with
    r_x = reg · tr(C_xx) / d_x (likewise for y). This is
    not optional here: each SIFT histogram and each LDA vector sums to 1, so both covariances
    are singular (zero variance along the all-ones direction). A small ``reg`` changes nothing
    else.
    """

    def __init__(self, n_components=CCA_SETTINGS["n_components"], reg=CCA_SETTINGS["reg"]):
        if n_components < 1:
            raise UserError(f"n_components: expected a positive integer, got {n_components}")
        if not reg > 0:
            raise UserError(f"reg: expected a positive ridge, got {reg}")
        self.n_components, self.reg = n_components, reg

    def fit(self, x, y):
        """Fit on paired training data ``x`` (n, d_x) and ``y`` (n, d_y); returns ``self``."""
        x, y = check_features("x", x, None, np.float64), check_features("y", y, None, np.float64)
        if x.shape[0] != y.shape[0] or x.shape[0] < 2:
            raise UserError(f"x and y: expected paired 2-D arrays with the same number (>= 2) of rows, "
                            f"got shapes {x.shape} and {y.shape}")
        if self.n_components > min(x.shape[1], y.shape[1]):
            raise UserError(f"n_components: at most min(d_x, d_y) = {min(x.shape[1], y.shape[1])}, "
                            f"got {self.n_components}")
        data = {"x": x, "y": y}
        self.mean = {m: a.mean(axis=0) for m, a in data.items()}
        centered = {m: a - self.mean[m] for m, a in data.items()}
        n = x.shape[0]
        whiten = {}
        for m, a in centered.items():
            C = a.T @ a / (n - 1)
            C += self.reg * np.trace(C) / C.shape[0] * np.eye(C.shape[0])
            whiten[m] = _inverse_sqrt(C)  # C_mm^{-1/2}
        C_xy = centered["x"].T @ centered["y"] / (n - 1)
        U, rho, Vt = np.linalg.svd(whiten["x"] @ C_xy @ whiten["y"])
        k = self.n_components
        self.projection = {"x": whiten["x"] @ U[:, :k], "y": whiten["y"] @ Vt[:k].T}
        self.correlations = rho[:k]
        return self

    def transform(self, a, modality):
        """Canonical variates ``(a - mean) @ projection`` (n, k) of data of ``modality`` "x" or "y"."""
        if modality not in ("x", "y"):
            raise UserError(f"modality: expected 'x' or 'y', got {modality!r}")
        if not hasattr(self, "projection"):
            raise UserError("CCA: not fitted yet; call fit(x, y) first")
        a = check_features(modality, a, self.mean[modality].shape[0], np.float64)
        return (a - self.mean[modality]) @ self.projection[modality]


# --------------------------------------------------------------------------------------------
# The DMF joint space
# --------------------------------------------------------------------------------------------


def unimodal_codes(model, image, text):
    """Joint representations from one modality at a time: ``{"x": s_L(image, 0), "y": s_L(0, text)}``."""
    return {"x": model.encode(image, np.zeros_like(text)),
            "y": model.encode(np.zeros_like(image), text)}


def check_dmf_settings(settings):
    """Return :data:`DMF_SETTINGS` updated with ``settings`` if every key is one of them and every
    value is valid (the sizes and weights as the model checks them, the training's as
    :func:`~dmf_numpy.training.loop.fit_generative` does); else raise UserError naming it."""
    s = check_settings(settings, DMF_SETTINGS)
    GenerativeDMF(s["x_dims"], s["y_dims"], s["shared_dims"], x_output="linear", y_output="linear",
                  x_weight=s["x_weight"], y_weight=s["y_weight"])
    check_loop_arguments(epochs=s["epochs"], batch_size=s["batch_size"], optimizer="adam", lr=s["lr"], momentum=0.9,
                         lr_decay=1.0, seed=0, out_dir=None, resume=False, metrics=None, settings=None, log=None)
    return s


def train_retrieval_dmf(image, text, *, seed=0, encoder="dmf", log=print, **settings):
    """A GenerativeDMF trained on standardized training pairs for retrieval (with an EMF or IMF
    encoder for the comparisons: ``encoder``, the same decoder, sizes and training).

    Parameters
    ----------
    image : ndarray, (N, 128)
    text : ndarray, (N, 10)
        Standardized training features.
    seed : int
    encoder : {"dmf", "imf", "emf"}
    log : callable
    **settings
        Overrides of :data:`DMF_SETTINGS`.

    Returns
    -------
    GenerativeDMF
    """
    s = check_dmf_settings(settings)
    model = GenerativeDMF(s["x_dims"], s["y_dims"], s["shared_dims"], x_output="linear",
                          y_output="linear", x_weight=s["x_weight"], y_weight=s["y_weight"], encoder=encoder,
                          seed=seed)
    fit_generative(model, image, text, epochs=s["epochs"], batch_size=s["batch_size"], lr=s["lr"], seed=seed,
                   log=log)
    return model


# --------------------------------------------------------------------------------------------
# Table 3
# --------------------------------------------------------------------------------------------


def table3_markdown(result):
    """Table 3 as Markdown: measured CCA, EMF, IMF and DMF next to the paper's numbers."""
    n_seeds = len(result["dmf"]["per_seed"])
    lines = [
        f"**Table 3.** mAP of cross-modal retrieval on Wikipedia ({result['n_queries']} test queries, "
        f"{result['n_items']} training pairs as the retrieval set, full ranking). EMF, IMF, DMF: the generative "
        f"model with each fusion as its encoder, mean ± std over {n_seeds} seed(s); the paper's numbers for "
        "comparison.",
        "",
        "| mAP | CCA (measured) | EMF (measured) | IMF (measured) | DMF (measured) | CCA (paper) | DMF (paper) |",
        "|---|---|---|---|---|---|---|",
    ]
    for direction in DIRECTIONS:
        measured = " | ".join(f"{result[e]['mean'][direction]:.4f} ± {result[e]['std'][direction]:.4f}"
                              for e in ENCODERS)
        lines.append(f"| {direction} | {result['cca'][direction]:.4f} | {measured} | "
                     f"{PAPER_TABLE3['CCA'][direction]:.4f} | {PAPER_TABLE3['DMF'][direction]:.4f} |")
    others = ", ".join(f"{name} {v['I2T']:.4f} / {v['T2I']:.4f}" for name, v in PAPER_TABLE3.items()
                       if name not in ("CCA", "DMF"))
    reference = result["unimodal_reference"]
    lines += [
        "",
        f"The paper's other methods (I2T / T2I): {others}.",
        "",
        "Reference, not cross-modal: the same mAP for image queries ranking the retrieval set's images "
        f"({reference['I2I']:.4f}) and text queries ranking its texts ({reference['T2T']:.4f}), by "
        "cosine of the standardized features.",
        "",
        f"Subset: {result['subset']}." if result["subset"] else "All queries and the full retrieval set.",
        f"DMF settings: {json.dumps(result['dmf_settings'])}. CCA: {json.dumps(result['cca_settings'])}. "
        f"Time: {result['seconds']:.0f} s ({result['machine']}).",
    ]
    return "\n".join(lines) + "\n"


def table3_rows(result):
    """CSV rows: one per (method, direction), measured and paper mAP (empty where the paper has none)."""
    rows = []
    for direction in DIRECTIONS:
        rows.append({"method": "CCA", "direction": direction, "map_mean": round(result["cca"][direction], 4),
                     "map_std": 0.0, "n_seeds": 1, "paper_map": PAPER_TABLE3["CCA"][direction]})
        for encoder in ENCODERS:
            method = encoder.upper()
            rows.append({"method": method, "direction": direction,
                         "map_mean": round(result[encoder]["mean"][direction], 4),
                         "map_std": round(result[encoder]["std"][direction], 4),
                         "n_seeds": len(result[encoder]["per_seed"]),
                         "paper_map": PAPER_TABLE3.get(method, {}).get(direction, "")})
    return rows


@holds_output_folder
def run_retrieval(out_dir, *, seeds=PAIRED_SEEDS, epochs=DMF_SETTINGS["epochs"], data_dir=None, subset=None,
                  log=print, **dmf_settings):
    """Reproduce Table 3: CCA, and the generative model with a DMF, IMF and EMF encoder, on the
    Wikipedia features, with verdicts on the paper's claims, written to ``out_dir``.

    Parameters
    ----------
    out_dir : str or Path
        Receives ``table3.md``, ``table3.csv``, ``claims.md``, ``claims.csv`` and
        ``results.json`` (every number, per seed, with the settings and the time taken).
    seeds : int
        Each encoder is trained with seeds 0 .. seeds-1 (initialization, shuffling, dropped
        modalities); the claims pair them.
    epochs : int
        Training epochs of each generative model.
    data_dir : str or Path, optional
        Where the Wikipedia features are; see :func:`dmf_numpy.datasets.wiki.load_wiki`.
    subset : tuple ``(n_items, n_queries)``, optional
        Use a seeded random subset of the training pairs (the retrieval set, also DMF's training
        data) and of the test queries: a quick smoke test, not comparable with the paper.
    log : callable
    **dmf_settings
        Other overrides of :data:`DMF_SETTINGS`.

    Returns
    -------
    dict
        ``cca``, and for each of ``dmf``, ``imf``, ``emf``: ``["mean"]``, ``["std"]``,
        ``["per_seed"]`` (direction -> mAP),
        ``unimodal_reference``, and the settings; as written to ``results.json``.
    """
    seeds, epochs = check_positive_int("seeds", seeds), check_positive_int("epochs", epochs)
    if subset is not None:
        if not isinstance(subset, (tuple, list)) or len(subset) != 2:
            raise UserError(f"subset: expected (n_items, n_queries), got {subset!r}")
        subset = tuple(check_positive_int(f"subset ({what})", n) for what, n in zip(("n_items", "n_queries"), subset))
    settings = check_dmf_settings({**dmf_settings, "epochs": epochs})  # before the data is read or CCA fitted
    start = time.perf_counter()
    wiki = load_wiki(data_dir)
    train = (wiki.image_train, wiki.text_train, wiki.label_train)
    test = (wiki.image_test, wiki.text_test, wiki.label_test)
    if subset is not None:
        n_items, n_queries = subset
        rng = np.random.default_rng(0)
        train = tuple(a[np.sort(rng.permutation(len(train[2]))[:n_items])] for a in train)
        test = tuple(a[np.sort(rng.permutation(len(test[2]))[:n_queries])] for a in test)
    image_items, image_queries = standardize(train[0], test[0])
    text_items, text_queries = standardize(train[1], test[1])
    labels_items, labels_queries = train[2], test[2]
    log(f"Table 3: {len(labels_queries)} queries, {len(labels_items)} retrieval items, from {wiki.path}")

    cca = CCA().fit(image_items, text_items)
    cca_scores = cross_modal_map({m: cca.transform(a, m) for m, a in (("x", image_queries), ("y", text_queries))},
                                 {m: cca.transform(a, m) for m, a in (("x", image_items), ("y", text_items))},
                                 labels_queries, labels_items)
    log(f"CCA: I2T {cca_scores['I2T']:.4f}  T2I {cca_scores['T2I']:.4f}  "
        f"(canonical correlations {np.round(cca.correlations[:3], 3).tolist()} ...)")

    per_seed = {encoder: [] for encoder in ENCODERS}
    for seed in range(seeds):
        for encoder in ENCODERS:
            model = train_retrieval_dmf(image_items, text_items, seed=seed, encoder=encoder, log=lambda line: None,
                                        **settings)
            scores = cross_modal_map(unimodal_codes(model, image_queries, text_queries),
                                     unimodal_codes(model, image_items, text_items),
                                     labels_queries, labels_items)
            per_seed[encoder].append(scores)
            log(f"{encoder.upper()} seed {seed}: I2T {scores['I2T']:.4f}  T2I {scores['T2I']:.4f}  "
                f"({time.perf_counter() - start:.0f} s so far)")

    reference = {"I2I": mean_average_precision(cosine_similarity(image_queries, image_items),
                                               labels_queries, labels_items),
                 "T2T": mean_average_precision(cosine_similarity(text_queries, text_items),
                                               labels_queries, labels_items)}
    result = {
        "cca": cca_scores,
        **{encoder: seed_summary(per_seed[encoder]) for encoder in ENCODERS},
        "unimodal_reference": reference,
        "paper": PAPER_TABLE3,
        "n_queries": int(len(labels_queries)), "n_items": int(len(labels_items)),
        "subset": list(subset) if subset is not None else None,
        "dmf_settings": as_json_settings(settings),
        "cca_settings": CCA_SETTINGS,
        "data": str(wiki.path),
        "seconds": time.perf_counter() - start,
        "machine": machine_description(), "reproducibility": machine_record(),
    }
    write_table3(out_dir, result)
    log(f"DMF: I2T {result['dmf']['mean']['I2T']:.4f} ± {result['dmf']['std']['I2T']:.4f}  "
        f"T2I {result['dmf']['mean']['T2I']:.4f} ± {result['dmf']['std']['T2I']:.4f}; "
        f"wrote {out_dir}/table3.md, table3.csv, claims.md, claims.csv, results.json ({result['seconds']:.0f} s)")
    return result


def seed_summary(per_seed):
    """``{"mean", "std", "per_seed"}`` of a list of ``{direction: mAP}``, one per seed."""
    stats = {d: mean_std([s[d] for s in per_seed]) for d in DIRECTIONS}
    return {"mean": {d: v[0] for d, v in stats.items()}, "std": {d: v[1] for d, v in stats.items()},
            "per_seed": per_seed}


#: The paper's claims on Table 3, tested here (family ``table3``): DMF's mAP is higher than
#: IMF's, EMF's (the same generative model with the encoder swapped) and CCA's, in both
#: directions. Apart (family ``context``): the measured DMF against the paper's DMF figures.
TABLE3_CLAIMS = tuple((other, direction) for direction in DIRECTIONS for other in ("IMF", "EMF", "CCA"))
CONTEXT_CLAIMS = tuple((("the paper's DMF", PAPER_TABLE3["DMF"][direction]), direction) for direction in DIRECTIONS)


def table3_claims(result):
    """The verdicts on :data:`TABLE3_CLAIMS` and :data:`CONTEXT_CLAIMS` over the paired seeds of
    ``result`` (CCA, deterministic, has the same value on every seed)."""
    per_seed = [{"DMF": dmf, "IMF": imf, "EMF": emf, "CCA": result["cca"]} for dmf, imf, emf in
                zip(*(result[encoder]["per_seed"] for encoder in ("dmf", "imf", "emf")))]
    return score_claims(per_seed, TABLE3_CLAIMS, "table3") + score_claims(per_seed, CONTEXT_CLAIMS, "context")


def write_table3(out_dir, result):
    """Write ``table3.md``, ``table3.csv``, ``claims.md``, ``claims.csv`` and ``results.json`` of
    a :func:`run_retrieval` result into ``out_dir``."""
    out_dir, claims = Path(out_dir), table3_claims(result)
    write_text(out_dir / "table3.md", table3_markdown(result))
    write_csv(out_dir / "table3.csv", table3_rows(result))
    write_score_claims(out_dir, claims, (
        f"**Table 3's claims, over {len(result['dmf']['per_seed'])} paired seeds** (each seed trains the three "
        "generative models; CCA has no seed). mAP; effect: DMF minus the other (positive: DMF better), its 95 % "
        "interval, the paired t-test's p-value and Holm's adjustment within the family (table3: DMF against IMF, "
        "EMF and CCA in both directions; context: the measured DMF against the paper's figures)."))
    write_json(out_dir / "results.json", result)
