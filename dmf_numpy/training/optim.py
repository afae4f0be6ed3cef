r"""Hand-written optimizers: SGD with momentum, and Adam.

An optimizer holds a reference to a model's ``params`` dict and updates those arrays *in place*
from a ``grads`` dict with the same keys. Its state (velocities, moments, step count) can be
saved to and restored from plain arrays and numbers, so a checkpoint resumes bit for bit.
The learning rate is the attribute ``lr``; a schedule (see :func:`decayed_lr`) sets it per epoch.
"""

from __future__ import annotations

import numpy as np

from ..core.checks import check_real
from ..core.errors import UserError


def check_lr(lr):
    """Return ``lr`` as a float if it is a positive, finite learning rate (a number, not a bool),
    else raise UserError."""
    return check_real("lr", lr, "a positive, finite learning rate", lambda v: v > 0)


def check_momentum(momentum):
    """Return ``momentum`` as a float if it is a number in [0, 1), else raise UserError."""
    return check_real("momentum", momentum, "a value in [0, 1)", lambda v: 0 <= v < 1)


def check_lr_decay(lr_decay):
    """Return ``lr_decay`` as a float if it is a factor in (0, 1], else raise UserError."""
    return check_real("lr_decay", lr_decay, "a factor in (0, 1]", lambda v: 0 < v <= 1)


def decayed_lr(lr0, decay, epoch):
    """Exponential learning-rate decay: η_e = η_0 γ^e for epoch e = 0, 1, ...

    ``decay = 1`` keeps the rate constant.
    """
    return lr0 * decay**epoch


class Optimizer:
    """Base class: the per-parameter state arrays in ``self.slots[slot][name]``."""

    name = "optimizer"
    slot_names = ()
    nonnegative_slots = ()
    """Slots that can never hold a negative number (Adam's second moments)."""

    def __init__(self, params, lr):
        self.params = params
        self.lr = check_lr(lr)
        self.t = 0  # number of steps taken
        self.slots = {slot: {k: np.zeros_like(p) for k, p in params.items()} for slot in self.slot_names}
        self._scratch = {k: np.empty_like(p) for k, p in params.items()}

    def step(self, grads):
        """Update every parameter in place from ``grads`` (same keys and shapes as ``params``)."""
        if grads.keys() != self.params.keys():
            raise UserError(f"grads: expected the keys of params {sorted(self.params)}, got {sorted(grads)}")
        self.t += 1
        for name, p in self.params.items():
            self._update(name, p, grads[name], self._scratch[name])

    def _update(self, name, p, g, tmp):
        raise NotImplementedError

    def hyperparameters(self):
        """The scalar settings, JSON-serializable (for checkpoints and ``config.json``)."""
        return {"name": self.name, "lr": self.lr}

    def state(self):
        """``(scalars, arrays)``: the step count and the slot arrays keyed ``"<slot>/<param>"``."""
        arrays = {f"{slot}/{k}": a for slot, d in self.slots.items() for k, a in d.items()}
        return {"t": self.t, **self.hyperparameters()}, arrays

    def check_state(self, arrays):
        """Raise UserError unless ``arrays`` (as :meth:`state` returns them) fit this optimizer:
        every slot array present, of its parameter's shape and dtype, and never negative where
        the slot cannot be (:attr:`nonnegative_slots`)."""
        for slot, d in self.slots.items():
            for k, a in d.items():
                saved = arrays.get(f"{slot}/{k}")
                if saved is None or saved.shape != a.shape or saved.dtype != a.dtype:
                    raise UserError(f"optimizer state: {slot}/{k} is missing or not {a.dtype}{list(a.shape)}")
                if slot in self.nonnegative_slots and np.any(saved < 0):
                    raise UserError(f"optimizer state: {slot}/{k} has {int(np.sum(saved < 0))} negative entries, "
                                    f"which {self.name}'s {slot} never holds: the state was damaged or edited")

    def load_state(self, scalars, arrays):
        """Restore what :meth:`state` returned (into the existing arrays); checked whole first.

        Raises
        ------
        UserError
            If the state is of another optimizer, or an array is missing or of another shape or
            dtype than the parameter's (never broadcast).
        """
        if scalars.get("name") != self.name:
            raise UserError(f"optimizer state: expected {self.name!r}, got {scalars.get('name')!r}")
        self.check_state(arrays)
        self.t = int(scalars["t"])
        self.lr = check_lr(scalars["lr"])
        for slot, d in self.slots.items():
            for k, a in d.items():
                a[...] = arrays[f"{slot}/{k}"]


class SGD(Optimizer):
    r"""Stochastic gradient descent with (heavy-ball) momentum.

    Notes
    -----
        v ← μ v - η g,   θ ← θ + v
    """

    name = "sgd"
    slot_names = ("velocity",)

    def __init__(self, params, lr=0.1, momentum=0.9):
        super().__init__(params, lr)
        self.momentum = check_momentum(momentum)

    def _update(self, name, p, g, tmp):
        v = self.slots["velocity"][name]
        v *= self.momentum
        np.multiply(g, self.lr, out=tmp)
        v -= tmp
        p += v

    def hyperparameters(self):
        return {**super().hyperparameters(), "momentum": self.momentum}


class Adam(Optimizer):
    r"""Adam (Kingma & Ba, 2015), in the "efficient" form of their Sec. 2.

    Notes
    -----
    With step count t,

        m ← β_1 m + (1 - β_1) g,   v ← β_2 v + (1 - β_2) g^2,   θ ← θ - η_t m / (√v + ε̂),

    where η_t = η √(1 - β_2^t) / (1 - β_1^t) folds in the bias
    corrections and ε̂ = ε √(1 - β_2^t), which makes it equal to
    the textbook update η m̂ / (√(v̂) + ε). Every step is done in
    place, with one scratch buffer per parameter.
    """

    name = "adam"
    slot_names = ("m", "v")
    nonnegative_slots = ("v",)  # running means of squared gradients

    def __init__(self, params, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(params, lr)
        self.beta1, self.beta2 = (check_real(label, beta, "a value in [0, 1)", lambda v: 0 <= v < 1)
                                  for label, beta in (("beta1", beta1), ("beta2", beta2)))
        self.eps = check_real("eps", eps, "a positive number", lambda v: v > 0)

    def step(self, grads):
        t = self.t + 1
        correction = np.sqrt(1 - self.beta2**t)
        self._lr_t = self.lr * correction / (1 - self.beta1**t)
        self._eps_t = self.eps * correction
        super().step(grads)

    def _update(self, name, p, g, tmp):
        m, v = self.slots["m"][name], self.slots["v"][name]
        m *= self.beta1
        np.multiply(g, 1 - self.beta1, out=tmp)
        m += tmp
        v *= self.beta2
        np.multiply(g, g, out=tmp)
        tmp *= 1 - self.beta2
        v += tmp
        np.sqrt(v, out=tmp)
        tmp += self._eps_t
        np.divide(m, tmp, out=tmp)
        tmp *= self._lr_t
        p -= tmp

    def hyperparameters(self):
        return {**super().hyperparameters(), "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


OPTIMIZERS = {cls.name: cls for cls in (SGD, Adam)}


def check_optimizer(name):
    """Return ``name`` if it names one of :data:`OPTIMIZERS` ("adam", "sgd"), else raise UserError."""
    if not isinstance(name, str) or name not in OPTIMIZERS:
        raise UserError(f"optimizer: expected one of {sorted(OPTIMIZERS)}, got {name!r}")
    return name


def make_optimizer(name, params, *, lr, momentum=0.9):
    """The optimizer called ``name`` ("adam" or "sgd") over ``params``; ``momentum`` is SGD's."""
    if check_optimizer(name) == "sgd":
        return SGD(params, lr=lr, momentum=momentum)
    return OPTIMIZERS[name](params, lr=lr)
