"""``export_onnx``: a checkpoint's streaming step and pose head as ONNX graphs plus a manifest.

The folder it writes::

    DIR/stream_step.onnx   one frame + state in, latent action + new state out
                           (:mod:`la_pose_core.export.stream_step`)
    DIR/pose_head.onnx     the window's latent actions in (dynamic P), poses out
                           (:mod:`la_pose_core.export.pose_head_graph`)
    DIR/manifest.json      config, opset, interfaces, fingerprints (:mod:`.manifest`)

Graphs come from ``torch.onnx.export(..., dynamo=True)``. Each file is written beside its
final name and moved there when complete; the manifest is written last, so a folder whose
export was interrupted has none and is refused by the runtime.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from pathlib import Path

import torch
from torch import nn

from la_pose_core.export.manifest import (
    POSE_HEAD,
    STREAM_STEP,
    ExportManifest,
    GraphSpec,
    TensorSpec,
)
from la_pose_core.export.pose_head_graph import POSE_HEAD_OUTPUTS, PoseHeadGraph
from la_pose_core.export.stream_step import StreamShapes, StreamStep
from la_pose_core.model.checkpoint import module_fingerprint
from la_pose_core.model.config import LAPoseConfig
from la_pose_core.model.inverse_dynamics import InverseDynamics
from la_pose_core.model.pose_head import PoseHead

DEFAULT_OPSET = 18  # TensorRT 8.6+ parses it (JetPack 6 ships TensorRT 8.6 / 10)
STREAM_INPUTS = ("frame", "dt", "frame_index", "keys", "values")  # + previous_inputs (motion)
STREAM_OUTPUTS = ("latent_actions", "bottleneck_codes", "next_keys", "next_values")  # + inputs
EXTERNAL_DATA_BYTES = 1 << 30  # larger weights go to a .data file beside the graph (2 GB cap)


def _stream_example(shapes: StreamShapes) -> tuple[tuple[torch.Tensor, ...], list[str], list[str]]:
    """Example inputs of the stream step (a frame at index 1 of a stream) and the I/O names."""
    example = (
        torch.rand(shapes.frame),  # (1, 3, H, W)
        torch.tensor([0.5]),  # (1,) dt
        torch.tensor([1], dtype=torch.int64),  # (1,) frame_index
        torch.zeros(shapes.cache),  # keys (depth, S, heads, L, e)
        torch.zeros(shapes.cache),  # values
    )
    inputs, outputs = list(STREAM_INPUTS), list(STREAM_OUTPUTS)
    if shapes.previous_inputs is not None:
        example += (torch.rand(shapes.previous_inputs),)  # (1, C, h, w)
        inputs.append("previous_inputs")
        outputs.append("inputs")
    return example, inputs, outputs


def _export_graph(
    module: nn.Module,
    example: tuple[torch.Tensor, ...],
    path: Path,
    names: tuple[list[str], list[str]],
    opset: int,
    dynamic_shapes: dict | None = None,
) -> GraphSpec:
    """Export ``module`` to ``path`` (written beside it, then moved) and describe its I/O."""
    input_names, output_names = names
    parameter_bytes = sum(p.numel() * p.element_size() for p in module.parameters())
    partial = path.with_name(f".{path.name}.partial")
    with _quiet_exporter():
        torch.onnx.export(
            module,
            example,
            str(partial),
            dynamo=True,
            opset_version=opset,
            input_names=input_names,
            output_names=output_names,
            dynamic_shapes=dynamic_shapes,
            external_data=parameter_bytes > EXTERNAL_DATA_BYTES,
            verbose=False,
        )
    os.replace(partial, path)
    return _graph_spec(path)


@contextlib.contextmanager
def _quiet_exporter():
    """The exporter's progress lines go to stderr (stdout is the command's JSON), its
    warnings (deprecations, "torchvision is not installed") nowhere."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _graph_spec(path: Path) -> GraphSpec:
    """Names, shapes (a name for a dynamic axis) and dtypes of an ONNX file's inputs/outputs."""
    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype

    graph = onnx.load(str(path), load_external_data=False).graph

    def specs(values) -> list[TensorSpec]:
        return [
            TensorSpec(
                name=value.name,
                shape=[dim.dim_param or dim.dim_value for dim in value.type.tensor_type.shape.dim],
                dtype=str(tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type)),
            )
            for value in values
        ]

    return GraphSpec(file=path.name, inputs=specs(graph.input), outputs=specs(graph.output))


def export_stream_step(
    model: InverseDynamics, config: LAPoseConfig, folder: Path, opset: int
) -> GraphSpec:
    """``folder/stream_step.onnx`` of ``model`` (see :mod:`la_pose_core.export.stream_step`)."""
    shapes = StreamShapes.of(config)
    example, inputs, outputs = _stream_example(shapes)
    path = folder / f"{STREAM_STEP}.onnx"
    return _export_graph(StreamStep(model), example, path, (inputs, outputs), opset)


def export_pose_head(pose_head: PoseHead, config: LAPoseConfig, folder: Path, opset: int):
    """``folder/pose_head.onnx``: ``latent_actions`` ``(1, P, d)``, ``P`` dynamic up to
    ``clip_len - 1`` (the streaming window's pairs); with ``camera_fov_input`` also
    ``camera_fov`` ``(1,)`` (radians, NaN: unknown)."""
    pairs = max(config.clip_len - 1, 2)  # an example of 1 would fix the axis at 1
    example = (torch.randn(1, pairs, config.inverse_dynamics.dim),)  # (1, P, d)
    dynamic = {"latent_actions": {1: torch.export.Dim("pairs", min=1, max=pairs)}}
    inputs = ["latent_actions"]
    if config.pose_head.camera_fov_input:
        example += (torch.full((1,), 0.6),)  # (1,) a FoV in radians
        dynamic["camera_fov"] = None
        inputs.append("camera_fov")
    path = folder / f"{POSE_HEAD}.onnx"
    names = (inputs, list(POSE_HEAD_OUTPUTS))
    return _export_graph(PoseHeadGraph(pose_head), example, path, names, opset, dynamic)


def export_onnx(
    inverse_dynamics: InverseDynamics,
    pose_head: PoseHead,
    config: LAPoseConfig,
    folder: str | os.PathLike,
    checkpoint: str = "",
    opset: int = DEFAULT_OPSET,
    verification: dict | None = None,
) -> ExportManifest:
    """Write both graphs of a pose estimator's modules, then the manifest, into ``folder``.

    ``checkpoint`` is recorded as the source; ``verification`` (the figures of
    :func:`la_pose_core.export.verify.compare_streams`) may be added later with
    :func:`dataclasses.replace` and :meth:`ExportManifest.write`.
    """
    import onnx

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    inverse_dynamics, pose_head = inverse_dynamics.eval(), pose_head.eval()
    graphs = {
        STREAM_STEP: export_stream_step(inverse_dynamics, config, folder, opset),
        POSE_HEAD: export_pose_head(pose_head, config, folder, opset),
    }
    manifest = ExportManifest(
        config=config.to_dict(),
        opset=opset,
        checkpoint=str(checkpoint),
        fingerprints={
            "inverse_dynamics": module_fingerprint(inverse_dynamics),
            "pose_head": module_fingerprint(pose_head),
        },
        graphs=graphs,
        torch_version=torch.__version__,
        onnx_version=onnx.__version__,
        verification=verification,
    )
    manifest.write(folder)
    return manifest
