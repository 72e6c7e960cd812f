"""Umeyama alignment of point sets (as in evo ``core/geometry.py::umeyama_alignment``).

Given source points x_i (the estimate) and target points y_i (the reference), find the
similarity ``y ~ c R x + t`` minimising the squared error: means, covariance
``Sigma = (1/n) sum (y_i - mu_y)(x_i - mu_x)^T``, SVD ``U D V^T``,
``S = diag(1, 1, -1 if det(U) det(V) < 0 else 1)``, ``R = U S V^T``,
``c = trace(D S) / sigma_x^2`` (with scale only, else 1), ``t = mu_y - c R mu_x``.

Degenerate sets (evo raises for them): when ``Sigma`` has rank < 2 the rotation is not unique.
A static set (rank 0) gets ``R = I`` and ``c = 1``: alignment by the means only. A set on a
straight line (rank 1) keeps the SVD's rotation, which maps the principal directions onto
each other; any rotation that does gives the same error for exactly collinear points. Both
cases are flagged in the result.
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Alignment:
    rotation: np.ndarray  # (3, 3)
    translation: np.ndarray  # (3,)
    scale: float
    degenerate: bool  # covariance rank < 2: the alignment is not unique (see module doc)

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Map ``(N, 3)`` source points into the target frame: ``c R x + t``."""
        return self.scale * points @ self.rotation.T + self.translation


def umeyama_alignment(source: np.ndarray, target: np.ndarray, with_scale: bool) -> Alignment:
    """Least-squares similarity (rigid if not ``with_scale``) from ``(N, 3)`` source to target."""
    source = np.asarray(source, dtype=np.float64)
    target = np.asarray(target, dtype=np.float64)
    if source.shape != target.shape or source.ndim != 2 or source.shape[1] != 3:
        raise ValueError(f"need two (N, 3) point sets, got {source.shape} and {target.shape}")
    mean_source, mean_target = source.mean(axis=0), target.mean(axis=0)  # (3,), (3,)
    centred_source, centred_target = source - mean_source, target - mean_target  # (N, 3)
    variance_source = np.mean(np.sum(centred_source**2, axis=1))
    covariance = centred_target.T @ centred_source / len(source)  # (3, 3)

    u, d, vt = np.linalg.svd(covariance)
    rank = int(np.count_nonzero(d > np.finfo(np.float64).eps * max(1.0, d[0])))
    if rank == 0:  # static: nothing to rotate or scale
        rotation, scale = np.eye(3), 1.0
    else:
        signs = np.ones(3)
        if np.linalg.det(u) * np.linalg.det(vt) < 0.0:
            signs[2] = -1.0
        rotation = u @ np.diag(signs) @ vt
        scale = float(np.sum(d * signs) / variance_source) if with_scale else 1.0
    translation = mean_target - scale * rotation @ mean_source
    return Alignment(rotation, translation, scale, degenerate=rank < 2)
