"""Small linear models in numpy: binary and multinomial logistic regression with L2.

Data here are tiny (hundreds of rows, at most a few thousand features), so plain full-batch
solvers are exact enough and take milliseconds: Newton's method for the binary case,
gradient descent with Adam for the multinomial one. Both are deterministic.

>>> x = np.array([[0.0], [1.0], [2.0], [3.0]])
>>> w, b = fit_logistic(x, np.array([0, 0, 1, 1]), l2=0.01)
>>> bool(w[0] > 0)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["SoftmaxFit", "Standardizer", "fit_logistic", "fit_softmax", "sigmoid"]

Array = np.ndarray[Any, np.dtype[np.float64]]


def sigmoid(z: Array) -> Array:
    """The logistic function, safe for large ``|z|``."""
    result: Array = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
    return result


@dataclass(frozen=True)
class Standardizer:
    """Column means and scales (constant columns get scale 1)."""

    mean: Array
    scale: Array

    @classmethod
    def fit(cls, x: Array) -> Standardizer:
        """Measure the columns of ``x``."""
        if len(x) == 0:
            return cls(np.zeros(x.shape[1]), np.ones(x.shape[1]))
        scale = x.std(axis=0)
        scale[scale < 1e-9] = 1.0
        return cls(x.mean(axis=0), scale)

    def __call__(self, x: Array) -> Array:
        result: Array = (x - self.mean) / self.scale
        return result


def fit_logistic(
    x: Array,
    y: np.ndarray[Any, Any],
    *,
    l2: float = 1.0,
    sample_weight: Array | None = None,
    start: tuple[Array, float] | None = None,
    iterations: int = 50,
) -> tuple[Array, float]:
    """Weights and bias minimising weighted log-loss + ``l2/2 * |w - w0|^2``.

    ``x`` should be standardised. ``start`` = ``(w0, b0)`` is where the fit starts and what
    the penalty pulls towards (a prior model being fine-tuned); by default zeros, and the
    bias is not penalised. With one class only, the weights are ``w0`` (or 0) and the bias
    says that class with high confidence.
    """
    n, d = x.shape
    target = np.asarray(y, dtype=np.float64)
    weight = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    w0 = np.zeros(d) if start is None else np.asarray(start[0], dtype=np.float64)
    if n == 0:
        return w0.copy(), 0.0 if start is None else float(start[1])
    if target.min() == target.max():
        return w0.copy(), 6.0 if target[0] > 0.5 else -6.0
    design = np.hstack([x, np.ones((n, 1))])
    centre = np.append(w0, 0.0)
    theta = centre.copy()
    if start is not None:
        theta[-1] = float(start[1])
    penalty = np.full(d + 1, l2)
    penalty[-1] = 0.0
    total = weight.sum()
    for _ in range(iterations):
        p = sigmoid(design @ theta)
        gradient = design.T @ (weight * (p - target)) / total + penalty * (theta - centre)
        curvature = weight * p * (1 - p) / total
        hessian = (design * curvature[:, None]).T @ design + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if float(np.abs(step).max()) < 1e-7:
            break
    return theta[:-1], float(theta[-1])


@dataclass(frozen=True)
class SoftmaxFit:
    """A fitted multinomial model:
    ``logits = x @ weights.T + bias + sum(shared[k] * extra[k])``."""

    weights: Array
    bias: Array
    shared: Array

    def logits(self, x: Array, extra: Sequence[Array] = ()) -> Array:
        """Class scores per row."""
        out: Array = x @ self.weights.T + self.bias
        for weight, evidence in zip(self.shared, extra, strict=True):
            out = out + weight * evidence
        return out

    def probabilities(self, x: Array, extra: Sequence[Array] = ()) -> Array:
        """Class probabilities per row."""
        z = self.logits(x, extra)
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        result: Array = e / e.sum(axis=1, keepdims=True)
        return result


def fit_softmax(
    x: Array,
    labels: np.ndarray[Any, Any],
    classes: int,
    *,
    l2: Array | float = 1.0,
    extra: Sequence[Array] = (),
    prior: Array | None = None,
    sample_weight: Array | None = None,
    iterations: int = 400,
    learning_rate: float = 0.05,
) -> SoftmaxFit:
    """Multinomial logistic regression by full-batch Adam.

    Args:
        x: features, one row per example.
        labels: the class index of each row.
        classes: number of classes (classes without examples keep their prior).
        l2: penalty on the weights (a scalar, or one value per feature column).
        extra: (rows x classes) matrices of class-specific evidence, each weighed by one
            shared learned coefficient (starting at 1).
        prior: initial biases (log prior probabilities); zeros by default.
        sample_weight: weight of each row (default 1).
    """
    n, d = x.shape
    onehot = np.zeros((n, classes))
    onehot[np.arange(n), np.asarray(labels, dtype=np.int64)] = 1.0
    weight = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    total = max(float(weight.sum()), 1e-12)
    penalty = np.broadcast_to(np.asarray(l2, dtype=np.float64), (d,))
    weights = np.zeros((classes, d))
    bias = np.zeros(classes) if prior is None else np.asarray(prior, dtype=np.float64).copy()
    params = [weights, bias, np.ones(len(extra))]
    moments = [np.zeros_like(p) for p in params]
    squares = [np.zeros_like(p) for p in params]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, iterations + 1):
        z = x @ params[0].T + params[1]
        for k, evidence in enumerate(extra):
            z = z + params[2][k] * evidence
        z -= z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        diff = (p - onehot) * (weight / total)[:, None]
        grads = [
            diff.T @ x + penalty * params[0],
            diff.sum(axis=0),
            np.array([float((diff * evidence).sum()) for evidence in extra]),
        ]
        for k, grad in enumerate(grads):
            moments[k] = beta1 * moments[k] + (1 - beta1) * grad
            squares[k] = beta2 * squares[k] + (1 - beta2) * grad * grad
            m_hat = moments[k] / (1 - beta1**step)
            v_hat = squares[k] / (1 - beta2**step)
            params[k] = params[k] - learning_rate * m_hat / (np.sqrt(v_hat) + eps)
    return SoftmaxFit(weights=params[0], bias=params[1], shared=params[2])
