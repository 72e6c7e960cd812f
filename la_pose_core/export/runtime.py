"""An exported model run by ONNX Runtime, in the shapes the streaming estimator already uses.

:class:`ExportedModel` opens an export folder (``la-pose export``) and gives two drop-in
pieces for :class:`~la_pose_core.inference.estimator.PoseEstimator`:

- :attr:`ExportedModel.stream`, an :class:`OnnxStream`: ``push(frame, dt)`` / ``reset()`` /
  ``frames_seen`` like :class:`~la_pose_core.model.inverse_dynamics.InverseDynamicsStream`;
  it keeps the state the graph takes in and gives back (caches, previous frame's inputs,
  frame count) and runs the views of a batch one after the other (the graph has batch 1);
- :attr:`ExportedModel.pose_head`, an :class:`OnnxPoseHead`: called with ``(V, P, d)`` latent
  actions, it returns the :class:`~la_pose_core.model.pose_head.PoseHead` dict.

Both take and return torch tensors (CPU numpy in between), so the estimator's code around
them does not change. onnxruntime is imported when a model is opened, not with this module.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from la_pose_core.export.manifest import (
    POSE_HEAD,
    STREAM_STEP,
    ExportManifest,
    GraphSpec,
    NotAnExportError,
)
from la_pose_core.export.pose_head_graph import POSE_HEAD_OUTPUTS
from la_pose_core.export.providers import execution_providers
from la_pose_core.export.stream_step import StreamShapes
from la_pose_core.model.config import LAPoseConfig

PREVIOUS_INPUTS = "previous_inputs"  # the stream step's optional input (motion features)


@dataclass
class ViewState:
    """What the stream step of one view carries from frame to frame (numpy, float32)."""

    keys: np.ndarray  # (depth, S, heads, clip_len, head_dim)
    values: np.ndarray  # (depth, S, heads, clip_len, head_dim)
    previous_inputs: np.ndarray | None  # (1, C, h, w); None without motion features

    @classmethod
    def empty(cls, shapes: StreamShapes) -> ViewState:
        previous = shapes.previous_inputs
        return cls(
            keys=np.zeros(shapes.cache, np.float32),
            values=np.zeros(shapes.cache, np.float32),
            previous_inputs=None if previous is None else np.zeros(previous, np.float32),
        )


class OnnxStream:
    """The stream step graph fed one frame at a time (mirrors ``InverseDynamicsStream``)."""

    frames_seen: int  # frames pushed since construction/reset
    views: list[ViewState]  # per batch row; allocated at the first frame

    def __init__(self, session, shapes: StreamShapes, nominal_dt: float) -> None:
        self.session = session
        self.shapes = shapes
        self.nominal_dt = nominal_dt
        self.max_frames = shapes.cache[3]
        self.reset()

    def reset(self) -> None:
        """Forget every cached frame."""
        self.frames_seen = 0
        self.views = []

    def push(self, frame: Tensor, dt: Tensor | None) -> dict[str, Tensor] | None:
        """Add the newest frame; the contract of ``InverseDynamicsStream.push``.

        Args:
            frame: ``(B, 3, H, W)`` in [0, 1].
            dt: ``(B,)`` seconds since the previous pushed frame (ignored for the first
                frame); None means the nominal interval.
        Returns:
            None for the first frame after reset; otherwise ``latent_actions`` ``(B, d)`` and
            ``bottleneck_codes`` ``(B, k)`` on ``frame``'s device.
        """
        batch = frame.shape[0]
        if self.frames_seen == 0:
            self.views = [ViewState.empty(self.shapes) for _ in range(batch)]
            intervals = np.full(batch, np.nan, np.float32)  # (B,) no previous frame
        elif dt is None:
            intervals = np.full(batch, self.nominal_dt, np.float32)  # (B,)
        else:
            intervals = dt.detach().float().cpu().numpy()  # (B,)
        pixels = frame.detach().float().cpu().numpy()  # (B, 3, H, W)
        index = np.array([self.frames_seen], np.int64)  # (1,)
        pairs = [
            self._step(view, pixels[row : row + 1], intervals[row : row + 1], index)
            for row, view in enumerate(self.views)
        ]  # [((1, d), (1, k))] per view
        self.frames_seen += 1
        if self.frames_seen == 1:
            return None
        actions, codes = (np.concatenate(parts) for parts in zip(*pairs, strict=True))
        return {
            "latent_actions": torch.from_numpy(actions).to(frame.device),  # (B, d)
            "bottleneck_codes": torch.from_numpy(codes).to(frame.device),  # (B, k)
        }

    def _step(
        self, view: ViewState, pixels: np.ndarray, dt: np.ndarray, index: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """One view's frame ``(1, 3, H, W)`` through the graph; updates ``view``."""
        feeds = {
            "frame": pixels,
            "dt": dt,
            "frame_index": index,
            "keys": view.keys,
            "values": view.values,
        }
        if view.previous_inputs is not None:
            feeds[PREVIOUS_INPUTS] = view.previous_inputs
        outputs = self.session.run(None, feeds)
        actions, codes, view.keys, view.values = outputs[:4]
        if view.previous_inputs is not None:
            view.previous_inputs = outputs[4]
        return actions, codes


class OnnxPoseHead:
    """The pose head graph, called like :class:`~la_pose_core.model.pose_head.PoseHead`."""

    def __init__(self, session) -> None:
        self.session = session

    def __call__(self, latent_actions: Tensor, camera_fov: Tensor | None = None) -> dict:
        """``(B, P, d)`` latent actions (and ``(B,)`` camera FoVs for a graph that takes
        them) -> the PoseHead dict (``(B, P, ...)`` and ``(B,)``), on their device; one graph
        run per batch row."""
        device = latent_actions.device
        rows = latent_actions.detach().float().cpu().numpy()  # (B, P, d)
        feeds = [{"latent_actions": row[None]} for row in rows]
        if camera_fov is not None:
            for feed, fov in zip(feeds, camera_fov.detach().float().cpu().numpy(), strict=True):
                feed["camera_fov"] = fov[None]  # (1,)
        runs = [self.session.run(None, feed) for feed in feeds]
        return {
            name: torch.from_numpy(np.concatenate(parts)).to(device)
            for name, parts in zip(POSE_HEAD_OUTPUTS, zip(*runs, strict=True), strict=True)
        }


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


class ExportedModel:
    """An export folder opened in ONNX Runtime (see module docstring).

    Args:
        folder: written by ``la-pose export`` (:func:`la_pose_core.export.exporter.export_onnx`).
        device: a torch device; ``cuda`` picks the TensorRT and CUDA execution providers the
            installed onnxruntime has (:func:`~la_pose_core.export.providers.execution_providers`).
    Raises:
        NotAnExportError: a missing folder, manifest or graph, or a graph that does not load or
            whose inputs differ from the manifest's.
    """

    def __init__(self, folder: str | os.PathLike, device: str | torch.device = "cpu") -> None:
        self.folder = Path(folder)
        self.manifest = ExportManifest.read(self.folder)
        self.config = LAPoseConfig.from_dict(self.manifest.config)
        self.shapes = StreamShapes.of(self.config)
        self.providers: list[str] = []
        sessions = self._open_sessions(torch.device(device))
        self.stream = OnnxStream(sessions[STREAM_STEP], self.shapes, self.config.nominal_dt)
        self.pose_head = OnnxPoseHead(sessions[POSE_HEAD])

    def check_fingerprints(self, fingerprints: dict[str, str], checkpoint: str) -> None:
        """``ValueError`` (one line) unless the export was made from modules with these
        :func:`~la_pose_core.model.checkpoint.module_fingerprint` s."""
        for part, expected in fingerprints.items():
            stored = self.manifest.fingerprints.get(part, "")
            if stored != expected:
                raise NotAnExportError(
                    self.folder,
                    f"its {part} fingerprint {stored[:12] or 'is missing'}... is not "
                    f"{checkpoint}'s {expected[:12]}... (exported from other weights: run "
                    "`la-pose export` again)",
                )

    def to(self, device: str | torch.device) -> ExportedModel:
        """Run on ``device`` from now on (new sessions; the stream's state is kept)."""
        sessions = self._open_sessions(torch.device(device))
        self.stream.session = sessions[STREAM_STEP]
        self.pose_head.session = sessions[POSE_HEAD]
        return self

    def _open_sessions(self, device: torch.device) -> dict:
        import onnxruntime

        providers = execution_providers(
            device.type, device.index, onnxruntime.get_available_providers(), self.folder
        )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # as torch here: fair figures
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        sessions = {
            name: self._session(onnxruntime, name, graph, options, providers)
            for name, graph in self.manifest.graphs.items()
        }
        self.providers = sessions[STREAM_STEP].get_providers()
        return sessions

    def _session(self, onnxruntime, name: str, graph: GraphSpec, options, providers):
        path = self.folder / graph.file
        try:
            session = onnxruntime.InferenceSession(str(path), options, providers=providers)
        except Exception as error:  # onnxruntime's own exception types: corrupt, truncated, ...
            reason = f"graph {name!r} ({graph.file}) does not load ({_first_line(error)})"
            raise NotAnExportError(self.folder, reason) from None
        found = [node.name for node in session.get_inputs()]
        if found != graph.input_names:
            reason = f"graph {name!r} takes {found}, its manifest says {graph.input_names}"
            raise NotAnExportError(self.folder, reason)
        return session
