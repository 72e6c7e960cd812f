"""Does the forward dynamics model use the latent action? Three numbers on held-out clips.

For a pretrainer (frozen tokenizer, inverse dynamics, forward dynamics) and clips it never saw:

``ce_true``         cross-entropy of the next frame's codes with the clip's own latent actions;
``ce_shuffled``     the same with the latent actions of another clip of the batch (a
                    derangement of the batch): ``ce_shuffled - ce_true`` is what the latent
                    action carries; no gap means the decoder ignores it;
``copy_accuracy``   share of next-frame codes equal to the previous frame's (predicting "no
                    change"); ``accuracy_true`` must beat it for the model to have learned
                    anything about change.
"""

from __future__ import annotations

import numpy as np
import torch

from la_pose_core.inference.preprocess import preprocess_image


def clips_of(sequence, clip_len: int) -> list[tuple[list[np.ndarray], np.ndarray]]:
    """Non-overlapping clips of ``clip_len`` consecutive frames of ``sequence`` (at its own
    rate): ``(images, dt)`` with uint8 images and ``(clip_len - 1,)`` intervals in seconds."""
    clips = []
    for start in range(0, len(sequence.stamps) - clip_len + 1, clip_len):
        indices = list(range(start, start + clip_len))
        images = [sequence.image(index) for index in indices]
        clips.append((images, np.diff(np.asarray(sequence.stamps, np.float64)[indices])))
    return clips


@torch.no_grad()
def forward_dynamics_check(pretrainer, clips: list, image_size: tuple[int, int]) -> dict:
    """The module's measures over ``clips``: a list of ``(images, dt)`` with ``images`` uint8
    ``(T, H, W[, 3])`` numpy frames and ``dt`` ``(T - 1,)`` seconds; ``image_size`` is the
    model's ``(height, width)``. Needs at least two clips (to shuffle)."""
    if len(clips) < 2:
        raise ValueError("the shuffle needs at least two clips")
    height, width = image_size
    frames = torch.stack(
        [torch.stack([preprocess_image(im, height, width, "cpu") for im in c]) for c, _ in clips]
    )  # (B, T, 3, H, W)
    dt = torch.stack([torch.as_tensor(d, dtype=torch.float32) for _, d in clips])  # (B, T-1)
    pretrainer.eval()
    return {**dynamics_measures(pretrainer, frames, dt), "clips": len(clips)}


@torch.no_grad()
def dynamics_measures(pretrainer, frames: torch.Tensor, dt: torch.Tensor) -> dict[str, float]:
    """The module's measures of a batch: ``frames`` ``(B, T, 3, H, W)`` in [0, 1], ``dt``
    ``(B, T - 1)`` seconds, ``B >= 2``. Runs the pretraining pass itself (codes, actions,
    logits, loss), then the decoder again with each clip given another clip's actions."""
    true = pretrainer(frames, dt)
    context, targets = true["indices"][:, :-1], true["indices"][:, 1:]  # (B, T-1, h, w)
    derangement = torch.roll(torch.arange(frames.shape[0]), 1)  # each clip gets another's
    shuffled = pretrainer.forward_dynamics(context, true["decoded_actions"][derangement], targets)
    return {
        "ce_true": float(true["loss"]),
        "ce_shuffled": float(shuffled["loss"]),
        "accuracy_true": float((true["logits"].argmax(-1) == targets).float().mean()),
        "accuracy_shuffled": float((shuffled["logits"].argmax(-1) == targets).float().mean()),
        "copy_accuracy": float((context == targets).float().mean()),
    }
