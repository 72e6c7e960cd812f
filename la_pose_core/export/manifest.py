"""The manifest of an exported model folder: what the ONNX graphs are and what they came from.

``DIR/manifest.json`` (written by :func:`la_pose_core.export.exporter.export_onnx`)::

    {
        "format": "la_pose_onnx", "version": 1,
        "config": LAPoseConfig.to_dict(),          # the checkpoint's config
        "opset": 18,
        "checkpoint": "models/la_pose_demo.pt",    # where it was exported from (informative)
        "fingerprints": {"inverse_dynamics": sha256, "pose_head": sha256},
        "graphs": {"stream_step": {"file", "inputs", "outputs"}, "pose_head": {...}},
        "torch_version": ..., "onnx_version": ...,
        "verification": {...} or null,             # max differences to torch, if verified
    }

``fingerprints`` are :func:`~la_pose_core.model.checkpoint.module_fingerprint` of the exported
modules: a runtime built for a checkpoint refuses a folder exported from other weights.
Reading a folder that is not such an export raises :class:`NotAnExportError`, one line.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from la_pose_core.atomic_write import atomic_write_text

FORMAT = "la_pose_onnx"
VERSION = 1
MANIFEST_NAME = "manifest.json"
STREAM_STEP = "stream_step"  # graph names, also their file stems
POSE_HEAD = "pose_head"
GRAPH_NAMES = (STREAM_STEP, POSE_HEAD)


class NotAnExportError(ValueError):
    """A folder that cannot be used as an LA-Pose ONNX export; one line naming it and why."""

    def __init__(self, folder: str | os.PathLike, reason: str) -> None:
        super().__init__(f"{folder} is not a usable LA-Pose ONNX export: {reason}")


@dataclass(frozen=True)
class TensorSpec:
    """One graph input or output: name, shape (ints, or a name for a dynamic axis), dtype."""

    name: str
    shape: list[int | str]
    dtype: str  # ONNX Runtime's type name, e.g. "tensor(float)"


@dataclass(frozen=True)
class GraphSpec:
    """One ONNX file of the export and its interface."""

    file: str  # relative to the export folder
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]

    @property
    def input_names(self) -> list[str]:
        return [spec.name for spec in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [spec.name for spec in self.outputs]


@dataclass(frozen=True)
class ExportManifest:
    """Parsed ``manifest.json`` (see module docstring)."""

    config: dict[str, Any]
    opset: int
    checkpoint: str
    fingerprints: dict[str, str]
    graphs: dict[str, GraphSpec]
    torch_version: str = ""
    onnx_version: str = ""
    verification: dict[str, Any] | None = None
    format: str = FORMAT
    version: int = VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def write(self, folder: str | os.PathLike) -> Path:
        """Write ``folder/manifest.json`` atomically; returns its path."""
        text = json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"
        return atomic_write_text(Path(folder) / MANIFEST_NAME, text)

    @classmethod
    def read(cls, folder: str | os.PathLike) -> ExportManifest:
        """Read and check ``folder/manifest.json``: format, version, both graph files present.

        Raises :class:`NotAnExportError` for a missing folder or manifest, a manifest that is
        not this JSON, or a missing graph file.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise NotAnExportError(folder, "no such folder (make one with `la-pose export`)")
        path = folder / MANIFEST_NAME
        try:
            payload = json.loads(path.read_text())
        except FileNotFoundError:
            raise NotAnExportError(folder, f"it has no {MANIFEST_NAME}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            reason = f"{MANIFEST_NAME} does not read as JSON ({type(error).__name__})"
            raise NotAnExportError(folder, reason) from None
        manifest = cls._parse(folder, payload)
        for name, graph in manifest.graphs.items():
            if not (folder / graph.file).is_file():
                raise NotAnExportError(folder, f"graph {name!r}: no file {graph.file}")
        return manifest

    @classmethod
    def _parse(cls, folder: Path, payload: Any) -> ExportManifest:
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise NotAnExportError(folder, f"{MANIFEST_NAME} has no {FORMAT!r} format marker")
        if payload.get("version") != VERSION:
            reason = f"version {payload.get('version')!r}, this code reads version {VERSION}"
            raise NotAnExportError(folder, reason)
        try:
            graphs = {
                name: GraphSpec(
                    file=spec["file"],
                    inputs=[TensorSpec(**item) for item in spec["inputs"]],
                    outputs=[TensorSpec(**item) for item in spec["outputs"]],
                )
                for name, spec in payload["graphs"].items()
            }
            fields = {key: payload[key] for key in ("config", "opset", "checkpoint")}
            manifest = cls(
                **fields,
                fingerprints=dict(payload["fingerprints"]),
                graphs=graphs,
                torch_version=payload.get("torch_version", ""),
                onnx_version=payload.get("onnx_version", ""),
                verification=payload.get("verification"),
                extra=payload.get("extra", {}),
            )
        except (KeyError, TypeError, AttributeError) as error:
            reason = f"{MANIFEST_NAME} lacks or mangles a field ({type(error).__name__}: {error})"
            raise NotAnExportError(folder, reason) from None
        missing = sorted(set(GRAPH_NAMES) - set(graphs))
        if missing:
            raise NotAnExportError(folder, f"{MANIFEST_NAME} lists no graph {missing[0]!r}")
        return manifest


def default_export_folder(checkpoint: str | os.PathLike) -> Path:
    """Where ``la-pose export`` writes, and the runtime looks, by default: the checkpoint's
    path with ``.onnx`` for ``.pt`` (``models/demo.pt`` -> ``models/demo.onnx/``)."""
    return Path(checkpoint).with_suffix(".onnx")
