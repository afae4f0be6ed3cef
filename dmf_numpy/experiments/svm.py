r"""A linear support vector machine: one-vs-rest, squared hinge loss, L2 penalty, L-BFGS.

The classifier of the paper's audio-visual protocol (Sec. 3.2, after Ngiam et al. 2011 and
Srivastava & Salakhutdinov 2012): a linear SVM on the joint representation.

The problem
-----------
For K classes, one binary classifier per class k separates it from all the others: labels
Y_ik = +1 if sample i is of class k, else -1. The K classifiers
w_k ∈ ℝ^d, b_k minimize together

    J(W, b) = (λ/2) ‖W‖_F^2 + (1/N) Σ_{i=1}^{N} Σ_{k=1}^{K} max(0, 1 - Y_ik (x_i^T w_k + b_k))^2,

the L2-regularized squared hinge loss (the "L2-SVM" of LIBLINEAR, with λ = 1/(CN)).
The biases are not penalized. J is a sum of K independent problems, one per column of
W, so minimizing it at once is minimizing each. The squared hinge is continuously
differentiable, with

    ∂J/∂W = λ W - (2/N) X^T (Y ⊙ A),   ∂J/∂b = -(2/N) 1^T (Y ⊙ A),   A = max(0, 1 - Y ⊙ (XW + 1 b^T)),

so a quasi-Newton method applies: ``scipy.optimize.minimize(method="L-BFGS-B")`` on the
flattened (W, b), started from zero. J is strictly convex in W (for
λ > 0), so the solution does not depend on the start.

A sample is assigned the class of the highest score x^T w_k + b_k
(:meth:`LinearSVM.decision_function`, :meth:`LinearSVM.predict`).
"""

from __future__ import annotations

import numpy as np
import scipy.optimize

from ..core.checks import check_features
from ..core.errors import UserError


def squared_hinge_objective(params, X, Y, reg):
    """J(W, b) and its gradient (module docstring), for :func:`scipy.optimize.minimize`.

    Parameters
    ----------
    params : ndarray, ((d + 1) * K,)
        W (d, K) and then b (K,), flattened.
    X : ndarray, (N, d)
    Y : ndarray, (N, K)
        +1 / -1 targets.
    reg : float
        λ.

    Returns
    -------
    value : float
    gradient : ndarray, ((d + 1) * K,)
    """
    n, d = X.shape
    W, b = params[:-Y.shape[1]].reshape(d, -1), params[-Y.shape[1]:]
    active = np.maximum(0.0, 1.0 - Y * (X @ W + b))  # A
    value = 0.5 * reg * np.sum(W * W) + np.sum(active * active) / n
    weighted = Y * active * (-2.0 / n)  # dJ / d scores
    return value, np.concatenate([(reg * W + X.T @ weighted).ravel(), weighted.sum(axis=0)])


class LinearSVM:
    """One-vs-rest linear SVM with the squared hinge loss (see the module docstring).

    Parameters
    ----------
    reg : float
        λ > 0, the L2 penalty.
    max_iter : int
        L-BFGS iterations at most.
    tol : float
        L-BFGS's ``gtol``: stop when every gradient entry is below it.

    Attributes
    ----------
    classes : ndarray, (K,)
        The sorted distinct labels seen by :meth:`fit`.
    W : ndarray, (d, K)
    b : ndarray, (K,)
    result : scipy.optimize.OptimizeResult
        The optimizer's report (``nit``, ``success``, ``message``).
    """

    def __init__(self, reg=1e-3, *, max_iter=1000, tol=1e-6):
        if not reg > 0:
            raise UserError(f"reg: expected a positive L2 penalty, got {reg}")
        if max_iter < 1:
            raise UserError(f"max_iter: expected a positive integer, got {max_iter}")
        self.reg, self.max_iter, self.tol = reg, max_iter, tol

    def fit(self, X, labels):
        """Train on ``X`` (N, d) and ``labels`` (N,) of at least two classes; returns ``self``."""
        X = check_features("X", X, None, np.float64)
        labels = np.asarray(labels)
        if labels.shape != (X.shape[0],):
            raise UserError(f"labels: expected shape ({X.shape[0]},), one per row of X, got {labels.shape}")
        self.classes = np.unique(labels)
        if len(self.classes) < 2:
            raise UserError(f"labels: expected at least two classes, got {self.classes.tolist()}")
        Y = np.where(labels[:, None] == self.classes, 1.0, -1.0)  # (N, K)
        K, d = len(self.classes), X.shape[1]
        self.result = scipy.optimize.minimize(
            squared_hinge_objective, np.zeros((d + 1) * K), args=(X, Y, self.reg), jac=True,
            method="L-BFGS-B", options={"maxiter": self.max_iter, "gtol": self.tol})
        self.W, self.b = self.result.x[:-K].reshape(d, K), self.result.x[-K:]
        return self

    def decision_function(self, X):
        """Scores x^T w_k + b_k, ``(N, K)``; column k for ``classes[k]``."""
        if not hasattr(self, "W"):
            raise UserError("LinearSVM: not fitted yet; call fit(X, labels) first")
        X = check_features("X", X, self.W.shape[0], np.float64)
        return X @ self.W + self.b

    def predict(self, X):
        """The class of the highest score, ``(N,)``."""
        scores = self.decision_function(X)
        return self.classes[np.argmax(scores, axis=1)]

    def score(self, X, labels):
        """Accuracy: the fraction of ``labels`` (N,) predicted right."""
        return float(np.mean(self.predict(X) == np.asarray(labels)))


def fit_validated(X, labels, validation, regs):
    """Choose λ on a validation split, then train on everything with it.

    Parameters
    ----------
    X : ndarray, (N, d)
    labels : ndarray, (N,)
    validation : ndarray of bool, (N,)
        The rows held out to score each candidate; the others train it.
    regs : sequence of float
        The candidate penalties.

    Returns
    -------
    svm : LinearSVM
        Trained on all N rows with the penalty of the best validation accuracy (the largest
        penalty among ties: the simplest model).
    validation_accuracy : dict of float to float
        Per candidate penalty.
    """
    validation = np.asarray(validation, dtype=bool)
    if validation.shape != (len(labels),) or validation.all() or not validation.any():
        raise UserError("validation: expected a boolean mask, one per sample, with rows on both sides")
    train, held_out = ~validation, validation
    accuracy = {reg: LinearSVM(reg).fit(X[train], labels[train]).score(X[held_out], labels[held_out])
                for reg in regs}
    best = max(sorted(accuracy, reverse=True), key=accuracy.get)  # max keeps the first of ties
    return LinearSVM(best).fit(X, labels), accuracy
