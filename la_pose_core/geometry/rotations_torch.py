"""Rotations as torch tensors, batched over leading axes: the rules of :mod:`.rotations` in torch.

Quaternions are ``(x, y, z, w)`` with the canonical sign of
:func:`la_pose_core.geometry.canonical_quaternion` (``w >= 0``; for ``|w| <= SIGN_EPS`` the
first non-zero of ``x, y, z`` positive). The training targets are built with these
(:class:`la_pose_core.model.targets.PoseTargets`), on whole batches at once.

Not exported by :mod:`la_pose_core.geometry` (which stays importable without torch).
"""

from __future__ import annotations

import torch
from torch import Tensor

from la_pose_core.geometry.rotations import SIGN_EPS


def canonical_quaternion_torch(quaternion: Tensor) -> Tensor:
    """``(..., 4)`` quaternions ``(x, y, z, w)`` -> unit, canonical sign (differentiable).

    The first component of ``(w, x, y, z)`` whose magnitude exceeds ``SIGN_EPS`` is made
    positive, as in :func:`la_pose_core.geometry.canonical_quaternion`.
    """
    unit = quaternion / quaternion.norm(dim=-1, keepdim=True).clamp_min(1e-12)  # (..., 4)
    scalar_first = unit[..., [3, 0, 1, 2]]  # (..., 4) w, x, y, z
    nonzero = (scalar_first.abs() > SIGN_EPS).to(torch.int64)  # (..., 4)
    leading = nonzero.argmax(dim=-1, keepdim=True)  # (..., 1) first non-zero (argmax of 0/1)
    leading_value = scalar_first.gather(-1, leading)  # (..., 1)
    sign = torch.where(leading_value < 0, -1.0, 1.0).to(unit.dtype)  # (..., 1)
    return unit * sign  # (..., 4)


def quaternion_from_matrix_torch(matrix: Tensor) -> Tensor:
    """``(..., 3, 3)`` rotation matrices -> canonical ``(..., 4)`` quaternions ``(x, y, z, w)``.

    Shepperd's method, as in ``scipy.spatial.transform.Rotation.from_matrix``: of the four
    ways to read ``q`` off ``R`` (led by ``x``, ``y``, ``z`` or ``w``), the one whose leading
    component is largest is used, so no division comes near zero. Computed in the input's
    dtype (pass float64 for float64 accuracy). The matrices must be rotations; scipy first
    projects a non-orthogonal matrix onto the nearest rotation, this does not (for poses
    orthogonal to ``1e-12`` the two agree to that order).
    """
    r = matrix
    trace = r[..., 0, 0] + r[..., 1, 1] + r[..., 2, 2]  # (...)
    candidates = torch.stack(
        (
            _led_by_axis(r, trace, 0),
            _led_by_axis(r, trace, 1),
            _led_by_axis(r, trace, 2),
            _led_by_w(r, trace),
        ),
        dim=-2,
    )  # (..., 4 candidates, 4)
    decision = torch.stack((r[..., 0, 0], r[..., 1, 1], r[..., 2, 2], trace), dim=-1)  # (..., 4)
    choice = decision.argmax(dim=-1)[..., None, None].expand(*decision.shape[:-1], 1, 4)
    quaternion = candidates.gather(-2, choice).squeeze(-2)  # (..., 4)
    return canonical_quaternion_torch(quaternion)


def _led_by_axis(r: Tensor, trace: Tensor, i: int) -> Tensor:
    """``(..., 4)`` unnormalised ``q`` read off ``r`` ``(..., 3, 3)`` through its ``i``-th
    vector component (accurate when ``r[i, i]`` is the largest diagonal entry)."""
    j, k = (i + 1) % 3, (i + 2) % 3
    components = [None] * 4
    components[i] = 1.0 - trace + 2.0 * r[..., i, i]
    components[j] = r[..., j, i] + r[..., i, j]
    components[k] = r[..., k, i] + r[..., i, k]
    components[3] = r[..., k, j] - r[..., j, k]
    return torch.stack(components, dim=-1)  # (..., 4)


def _led_by_w(r: Tensor, trace: Tensor) -> Tensor:
    """``(..., 4)`` unnormalised ``q`` read off ``r`` through ``w`` (accurate for turns well
    below 180 degrees, ``trace`` the largest)."""
    return torch.stack(
        (
            r[..., 2, 1] - r[..., 1, 2],
            r[..., 0, 2] - r[..., 2, 0],
            r[..., 1, 0] - r[..., 0, 1],
            1.0 + trace,
        ),
        dim=-1,
    )  # (..., 4)
