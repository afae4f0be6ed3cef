"""The linear SVM: its objective and gradient, a solution checked by hand, a separable problem,
the one-vs-rest decision and the validated choice of the penalty."""

import numpy as np
import pytest
import scipy.optimize

from dmf_numpy.experiments.svm import LinearSVM, fit_validated, squared_hinge_objective


def test_objective_by_hand_and_gradient_by_finite_differences():
    X = np.array([[1.0, 2.0], [-1.0, 0.5], [0.0, -1.0]])
    Y = np.array([[1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    W, b = np.array([[0.5, -0.2], [0.1, 0.3]]), np.array([0.1, -0.4])
    params = np.concatenate([W.ravel(), b])
    # Scores XW + b = [[0.8, 0.0], [-0.35, -0.05], [0.0, -0.7]]; margins 1 - Y * scores, clipped at 0:
    # [[0.2, 1.0], [0.65, 1.05], [1.0, 0.3]].
    hinge = (0.2 ** 2 + 1.0 + 0.65 ** 2 + 1.05 ** 2 + 1.0 + 0.3 ** 2) / 3
    value, gradient = squared_hinge_objective(params, X, Y, reg=0.5)
    assert value == pytest.approx(0.25 * np.sum(W ** 2) + hinge, rel=1e-12)
    error = scipy.optimize.check_grad(lambda p: squared_hinge_objective(p, X, Y, 0.5)[0],
                                      lambda p: squared_hinge_objective(p, X, Y, 0.5)[1], params)
    assert error < 1e-6


def test_two_points_give_the_hand_derived_solution():
    """x = -1 (class 0) and x = +1 (class 1). By symmetry b = 0, and for class 1
    J(w) = (reg/2) w^2 + (1/2) [(1 - w)^2 + (1 - w)^2] = (reg/2) w^2 + (1 - w)^2, minimal at
    w = 2 / (2 + reg); class 0's classifier is its mirror image, w = -2 / (2 + reg)."""
    reg = 2.0
    svm = LinearSVM(reg, tol=1e-10).fit(np.array([[-1.0], [1.0]]), np.array([0, 1]))
    np.testing.assert_allclose(svm.W, [[-0.5, 0.5]], atol=1e-8)
    np.testing.assert_allclose(svm.b, [0.0, 0.0], atol=1e-8)
    # The decision at x = 0.6: scores -0.3 and 0.3, so class 1; at x = -0.2, class 0.
    np.testing.assert_allclose(svm.decision_function(np.array([[0.6]])), [[-0.3, 0.3]], atol=1e-8)
    np.testing.assert_array_equal(svm.predict(np.array([[0.6], [-0.2]])), [1, 0])


def test_one_vs_rest_decision_is_the_highest_score():
    svm = LinearSVM()
    svm.classes = np.array([3, 5, 7])
    svm.W, svm.b = np.array([[1.0, 0.0, -1.0], [0.0, 1.0, 0.0]]), np.array([0.0, 0.5, 0.0])
    # x = (2, 0): scores (2, 0.5, -2) -> 3; x = (0, 1): (0, 1.5, 0) -> 5; x = (-1, 0): (-1, 0.5, 1) -> 7.
    np.testing.assert_array_equal(svm.predict(np.array([[2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])), [3, 5, 7])


def test_separates_a_separable_problem_with_margin():
    rng = np.random.default_rng(0)
    centers = np.array([[4.0, 0.0], [-4.0, 0.0], [0.0, 4.0], [0.0, -4.0]])
    labels = np.repeat(np.arange(4), 50)
    X = centers[labels] + rng.uniform(-1, 1, size=(200, 2))  # four boxes, far apart
    svm = LinearSVM(1e-3).fit(X, labels)
    assert svm.result.success
    assert svm.score(X, labels) == 1.0
    scores = svm.decision_function(X)
    assert (scores[np.arange(200), labels] > 0).all()  # each point on its own classifier's positive side
    # New points from the same boxes are classified right too.
    fresh = rng.integers(0, 4, 100)
    assert svm.score(centers[fresh] + rng.uniform(-1, 1, size=(100, 2)), fresh) == 1.0


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="reg: expected a positive"):
        LinearSVM(0.0)
    with pytest.raises(ValueError, match="labels: expected at least two classes"):
        LinearSVM().fit(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match=r"labels: expected shape \(3,\)"):
        LinearSVM().fit(np.zeros((3, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="LinearSVM: not fitted yet"):
        LinearSVM().predict(np.zeros((1, 2)))
    with pytest.raises(ValueError, match="X: expected finite"):
        LinearSVM().fit(np.full((2, 2), np.nan), np.array([0, 1]))
    svm = LinearSVM().fit(np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([0, 1]))
    with pytest.raises(ValueError, match="X: expected 2 features"):
        svm.predict(np.zeros((1, 3)))


def test_fit_validated_picks_the_best_penalty_and_the_largest_among_ties():
    """Three classes in one feature, at -1, 0 and +1 (plus small noise). A huge penalty shrinks
    W to nearly 0 and misclassifies a class; a small one separates them."""
    rng = np.random.default_rng(3)
    labels = np.tile([0, 1, 2], 30)
    X = (labels - 1.0)[:, None] + rng.uniform(-0.2, 0.2, (90, 1))
    validation = np.arange(90) >= 60
    svm, accuracy = fit_validated(X, labels, validation, (1e-3, 1e6))
    assert accuracy[1e-3] == 1.0 and accuracy[1e6] < 0.9
    assert svm.reg == 1e-3 and svm.score(X, labels) == 1.0
    # Two penalties both perfect on validation: the larger (simpler model) is kept.
    svm, accuracy = fit_validated(X, labels, validation, (1e-3, 1e-2))
    assert accuracy == {1e-3: 1.0, 1e-2: 1.0} and svm.reg == 1e-2
    with pytest.raises(ValueError, match="validation: expected a boolean mask"):
        fit_validated(X, labels, np.zeros(80, dtype=bool), (1.0,))
