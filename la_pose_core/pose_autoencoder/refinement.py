"""Test-time refinement of a translation with a bank of known motions (Camera Pose Auto-Encoder).

Given the latent action ``z`` ``(d,)`` of a pair and the pose head's initial translation ``t0``:

1. retrieve the ``k`` bank motions whose translations are nearest to ``t0`` (Euclidean, metres);
2. take their encoded latents ``z^_1 .. z^_k`` (precomputed by the pose encoder when the bank is
   built);
3. solve for affine weights ``a`` (``sum_i a_i = 1``) minimising
   ``||z - sum_i a_i z^_i||^2 + lambda ||a||^2``;
4. refined translation ``t = sum_i a_i t_i``.

Step 3 in closed form: with the Gram matrix ``G = Z Z^T`` (``Z`` the ``(k, d)`` stacked ``z^_i``)
and ``b = Z z``, the Lagrangian ``a^T (G + lambda I) a - 2 b^T a + 2 mu (1^T a - 1)`` gives the
KKT system

    [ G + lambda I   1 ] [ a  ]   [ b ]
    [ 1^T            0 ] [ mu ] = [ 1 ]

``lambda = ridge * trace(G) / k`` (relative, so it does not depend on the latent scale) keeps
the system solvable when bank latents coincide; with the default ``ridge`` it moves an exact
solution by about ``1e-9`` relative.

**Conditioning.** With a dense bank the ``k`` motions nearest to ``t0`` are nearly the same
motion, their latents nearly the same vector, and the unregularised affine weights explode
(hundreds to thousands, of both signs): the refined translation then extrapolates far outside
the retrieved motions, amplifying the encoder's small errors. A larger ``ridge`` (e.g. ``1e-2``)
pulls the weights towards ``1 / k`` (the retrieved motions' mean). :class:`TranslationRefiner`
reports the largest ``|a_i|`` it has used so this can be seen; the ablation
(``benchmarks/ablation_pose_autoencoder.py``) measures both.

**Bank contents.** The bank must hold motions of the *post-training* set only (the clips whose
ground-truth poses trained the pose head and the encoder). It must never contain motions of
evaluation or test sequences: that would leak ground truth into the estimate and void every
reported metric. :class:`MotionBank` records a ``source`` label for this reason.

Poses follow ``la_pose_core.geometry``: ``cam_t_from_cam_{t+1}``, camera optical frame, metres,
quaternions ``(x, y, z, w)``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import numpy as np
import torch

from la_pose_core.geometry import translation_quaternion_from_pose
from la_pose_core.model.config import RefinementConfig
from la_pose_core.model.pose_encoder import PoseEncoder

DEFAULT_RIDGE = RefinementConfig.ridge  # the config's defaults: one home for them
DEFAULT_K = RefinementConfig.k
BANK_KEY = "motion_bank"  # checkpoint ``extra`` entry of a trained pose encoder's bank
TEACHER_KEY = "teacher"  # checkpoint ``extra`` entry naming the frozen model it was trained on


@dataclass
class MotionBank:
    """Known relative motions of the post-training set and their encoded latents.

    Never build one from evaluation data (see module docstring).
    """

    translations: np.ndarray  # (N, 3) float64, metres
    quaternions: np.ndarray  # (N, 4) float64, (x, y, z, w), w >= 0
    latents: np.ndarray  # (N, d) float64, encoder outputs of the poses above
    source: str  # where the motions come from, e.g. "posttrain:kitti_00-08"
    fps: np.ndarray | None = None  # (N,) frame rate of each motion, for encoders with use_fps

    def __len__(self) -> int:
        return len(self.translations)

    @classmethod
    def from_relative_poses(
        cls,
        relative_poses: np.ndarray,
        encoder: PoseEncoder,
        source: str,
        fps: np.ndarray | float | None = None,
        batch_size: int = 4096,
    ) -> MotionBank:
        """Bank of ``(N, 4, 4)`` metric post-training motions, encoded with ``encoder``.

        Args:
            relative_poses: ``(N, 4, 4)`` ``cam_t_from_cam_{t+1}`` of the post-training set.
            encoder: the trained pose encoder (run in eval mode, without gradients).
            source: a label of the data the motions come from (kept for audits).
            fps: frame rate of each motion (scalar or ``(N,)``) when ``encoder.use_fps``.
        """
        relative_poses = np.asarray(relative_poses, dtype=np.float64).reshape(-1, 4, 4)
        translations, quaternions = translation_quaternion_from_pose(relative_poses)  # (N,3),(N,4)
        count = len(relative_poses)
        fps_array = (
            None if fps is None else np.broadcast_to(np.asarray(fps, np.float64), (count,)).copy()
        )  # (N,)
        latents = _encode(encoder, translations, quaternions, fps_array, batch_size)  # (N, d)
        return cls(translations, quaternions, latents, source, fps_array)

    def to_dict(self) -> dict:
        """Plain data for a checkpoint's ``extra`` (tensors, ``weights_only``-safe; the latents
        in float32, which halves the file and is the encoder's own precision)."""
        return {
            "translations": torch.from_numpy(np.ascontiguousarray(self.translations)),
            "quaternions": torch.from_numpy(np.ascontiguousarray(self.quaternions)),
            "latents": torch.from_numpy(np.ascontiguousarray(self.latents, dtype=np.float32)),
            "source": self.source,
            "fps": None if self.fps is None else torch.from_numpy(self.fps.copy()),
        }

    @classmethod
    def from_dict(cls, data: dict) -> MotionBank:
        """Inverse of :meth:`to_dict`."""

        def array(name: str) -> np.ndarray:
            return data[name].double().numpy()

        fps = None if data.get("fps") is None else array("fps")
        poses = array("translations"), array("quaternions")
        return cls(*poses, array("latents"), data["source"], fps)

    def nearest(self, translation: np.ndarray, k: int) -> np.ndarray:
        """Indices ``(k,)`` of the ``k`` bank translations nearest to ``translation`` ``(3,)``,
        nearest first."""
        if not 1 <= k <= len(self):
            raise ValueError(f"k must be in [1, {len(self)}], got {k}")
        distances = np.linalg.norm(self.translations - translation, axis=-1)  # (N,)
        candidates = np.argpartition(distances, k - 1)[:k]  # (k,) unordered
        return candidates[np.argsort(distances[candidates], kind="stable")]  # (k,)


def _encode(
    encoder: PoseEncoder,
    translations: np.ndarray,
    quaternions: np.ndarray,
    fps: np.ndarray | None,
    batch_size: int,
) -> np.ndarray:
    """Encoder latents ``(N, d)`` float64 of ``(N, 3)`` translations, ``(N, 4)`` quaternions."""
    was_training = encoder.training
    encoder.eval()
    device = next(encoder.parameters()).device
    chunks = []
    with torch.no_grad():
        for start in range(0, len(translations), batch_size):
            part = slice(start, start + batch_size)
            t = torch.as_tensor(translations[part], dtype=torch.float32, device=device)  # (n, 3)
            q = torch.as_tensor(quaternions[part], dtype=torch.float32, device=device)  # (n, 4)
            f = (
                None
                if fps is None
                else torch.as_tensor(fps[part], dtype=torch.float32, device=device)
            )  # (n,)
            chunks.append(encoder(t, q, f).double().cpu().numpy())  # (n, d)
    encoder.train(was_training)
    return np.concatenate(chunks, axis=0)  # (N, d)


@dataclass
class Refinement:
    """Result of :func:`refine`."""

    translation: np.ndarray  # (3,) refined translation, metres
    weights: np.ndarray  # (k,) affine weights, sum 1
    indices: np.ndarray  # (k,) bank indices of the retrieved motions, nearest to t0 first
    residual: float  # ||z - sum_i a_i z^_i|| (latent units)


def affine_weights(z: np.ndarray, basis: np.ndarray, ridge: float = DEFAULT_RIDGE) -> np.ndarray:
    """Weights ``a`` ``(k,)``, ``sum a = 1``, minimising ``||z - a^T basis||^2 + lambda ||a||^2``.

    Args:
        z: ``(d,)`` target latent.
        basis: ``(k, d)`` latents ``z^_i``.
        ridge: relative regulariser; ``lambda = ridge * trace(G) / k`` (module docstring).
    """
    z = np.asarray(z, dtype=np.float64)  # (d,)
    basis = np.asarray(basis, dtype=np.float64)  # (k, d)
    k = len(basis)
    gram = basis @ basis.T  # (k, k)
    lam = ridge * max(np.trace(gram) / k, 1e-12)  # ()
    kkt = np.zeros((k + 1, k + 1))  # (k+1, k+1)
    kkt[:k, :k] = gram + lam * np.eye(k)
    kkt[:k, k] = 1.0
    kkt[k, :k] = 1.0
    rhs = np.append(basis @ z, 1.0)  # (k+1,)
    try:
        solution = np.linalg.solve(kkt, rhs)  # (k+1,) [a, mu]
    except np.linalg.LinAlgError:
        solution = np.linalg.lstsq(kkt, rhs, rcond=None)[0]  # (k+1,)
    return solution[:k]  # (k,)


def refine(
    z: np.ndarray | torch.Tensor,
    initial_translation: np.ndarray | torch.Tensor,
    bank: MotionBank,
    encoder: PoseEncoder | None = None,
    k: int = DEFAULT_K,
    ridge: float = DEFAULT_RIDGE,
) -> Refinement:
    """Refine the translation of one pair (see module docstring).

    Args:
        z: ``(d,)`` latent action of the pair (inverse dynamics output).
        initial_translation: ``(3,)`` the pose head's metric translation for it, metres.
        bank: post-training motions and their latents.
        encoder: if given, the retrieved motions are re-encoded with it instead of using the
            bank's precomputed latents (for a bank built with another encoder version).
        k: number of retrieved motions.
        ridge: relative regulariser of the weights.
    """
    z = _as_numpy(z)  # (d,)
    initial_translation = _as_numpy(initial_translation)  # (3,)
    indices = bank.nearest(initial_translation, k)  # (k,)
    if encoder is None:
        basis = bank.latents[indices]  # (k, d)
    else:
        fps = None if bank.fps is None else bank.fps[indices]
        basis = _encode(
            encoder, bank.translations[indices], bank.quaternions[indices], fps, k
        )  # (k, d)
    weights = affine_weights(z, basis, ridge)  # (k,)
    translation = weights @ bank.translations[indices]  # (3,)
    residual = float(np.linalg.norm(z - weights @ basis))
    return Refinement(translation, weights, indices, residual)


def _as_numpy(value: np.ndarray | torch.Tensor) -> np.ndarray:
    """float64 numpy copy of a tensor or array."""
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float64)


class TranslationRefiner:
    """A trained pose encoder's motion bank, applied to one pair at a time.

    Args:
        bank: post-training motions with their encoded latents.
        k: motions combined per pair.
        teacher: what the encoder was trained against (``{"inverse_dynamics_sha256", ...}``);
            :meth:`check_backbone` compares it with the estimator's backbone.
        ridge: relative regulariser of the affine weights.
    """

    def __init__(
        self,
        bank: MotionBank,
        k: int = DEFAULT_K,
        teacher: dict | None = None,
        ridge: float = DEFAULT_RIDGE,
    ) -> None:
        if not 1 <= k <= len(bank):
            raise ValueError(f"refinement k must be in [1, {len(bank)}] (bank size), got {k}")
        self.bank, self.k, self.ridge = bank, k, ridge
        self.teacher = dict(teacher or {})
        if not ridge >= 0:
            raise ValueError(f"refinement ridge must not be negative, got {ridge}")
        self.calls = 0
        self.last_seconds = 0.0  # cost of the latest call
        self.total_seconds = 0.0
        self.sum_max_abs_weight = 0.0  # sum over calls of max_i |a_i| (conditioning)

    @classmethod
    def from_checkpoint(
        cls, path: str | os.PathLike, k: int = DEFAULT_K, ridge: float = DEFAULT_RIDGE
    ) -> TranslationRefiner:
        """Load the bank of a ``la-pose train pose-encoder`` model file."""
        from la_pose_core.model.checkpoint import load_checkpoint

        checkpoint = load_checkpoint(path, map_location="cpu")
        if "pose_encoder" not in checkpoint.modules or BANK_KEY not in checkpoint.extra:
            raise ValueError(
                f"{path} holds no trained pose encoder with a motion bank (parts: "
                f"{sorted(checkpoint.modules)}); train one with la-pose train pose-encoder"
            )
        bank = MotionBank.from_dict(checkpoint.extra[BANK_KEY])
        return cls(bank, k, checkpoint.extra.get(TEACHER_KEY), ridge)

    def check_backbone(self, fingerprint: str) -> None:
        """Raise ``ValueError`` unless the bank's latents come from the backbone whose
        :func:`~la_pose_core.model.checkpoint.module_fingerprint` is ``fingerprint``."""
        expected = self.teacher.get("inverse_dynamics_sha256")
        if expected is None:
            raise ValueError("the refinement checkpoint does not name the backbone it was made for")
        if expected != fingerprint:
            raise ValueError(
                "the refinement checkpoint's pose encoder was trained against another inverse "
                f"dynamics model (teacher {self.teacher.get('checkpoint', '?')}): its latents do "
                "not match this estimator's; train it on this checkpoint"
            )

    def __call__(self, z: np.ndarray | torch.Tensor, translation: np.ndarray) -> Refinement:
        """Refined translation of one pair (:func:`refine`), timing the call."""
        start = time.perf_counter()
        result = refine(z, translation, self.bank, k=self.k, ridge=self.ridge)
        self.last_seconds = time.perf_counter() - start
        self.total_seconds += self.last_seconds
        self.sum_max_abs_weight += float(np.abs(result.weights).max())
        self.calls += 1
        return result

    @property
    def mean_ms(self) -> float | None:
        """Mean cost of one refinement so far (milliseconds), None before the first."""
        return None if self.calls == 0 else 1000.0 * self.total_seconds / self.calls

    @property
    def mean_max_abs_weight(self) -> float | None:
        """Mean over calls of the largest ``|a_i|``: ``1 / k`` to 1 interpolates between the
        retrieved motions, far above 1 extrapolates (module docstring, conditioning)."""
        return None if self.calls == 0 else self.sum_max_abs_weight / self.calls


def teacher_record(inverse_dynamics: torch.nn.Module, checkpoint: str | None = None) -> dict:
    """What a refinement checkpoint says of its teacher: the backbone's fingerprint (checked by
    :meth:`TranslationRefiner.check_backbone`) and, for people, where it came from."""
    from la_pose_core.model.checkpoint import module_fingerprint

    return {
        "inverse_dynamics_sha256": module_fingerprint(inverse_dynamics),
        "checkpoint": "" if checkpoint is None else str(checkpoint),
    }


def save_refinement_checkpoint(
    path: str | os.PathLike,
    encoder: PoseEncoder,
    config,
    bank: MotionBank,
    teacher: dict,
    extra: dict | None = None,
) -> None:
    """Write a pose encoder with its motion bank: the file :class:`TranslationRefiner` and
    ``--refine`` options read (``la-pose train pose-encoder`` writes the same layout).

    Args:
        config: the teacher's :class:`~la_pose_core.model.config.LAPoseConfig`.
        teacher: :func:`teacher_record` of the backbone the encoder was trained against.
        extra: more plain data to store.
    """
    from la_pose_core.model.checkpoint import save_checkpoint

    payload = {**(extra or {}), BANK_KEY: bank.to_dict(), TEACHER_KEY: dict(teacher)}
    save_checkpoint(path, {"pose_encoder": encoder}, config, payload)
