"""Checkpoints that carry their own config, so a model can be rebuilt from the file alone.

File content (``torch.save`` of plain containers only, readable with ``weights_only=True``)::

    {
        "format": "la_pose_checkpoint",
        "version": 1,
        "config": LAPoseConfig.to_dict(),
        "modules": {part name: state_dict},   # part names: keys of MODULE_BUILDERS
        "extra": {...},                       # caller's plain data: step, metrics, ...
    }

Writing is atomic (:mod:`la_pose_core.atomic_write`): a crash never leaves a half-written
checkpoint under the real name.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import torch
from torch import nn

from la_pose_core.atomic_write import atomic_write
from la_pose_core.model.config import LAPoseConfig
from la_pose_core.model.forward_dynamics import ForwardDynamics
from la_pose_core.model.inverse_dynamics import InverseDynamics
from la_pose_core.model.lapose import LAPosePosttrainer, LAPosePretrainer
from la_pose_core.model.pose_encoder import PoseEncoder
from la_pose_core.model.pose_head import PoseHead
from la_pose_core.model.tokenizer import Tokenizer

FORMAT = "la_pose_checkpoint"
VERSION = 1

# Every module a checkpoint may hold, by part name, built from the config alone.
MODULE_BUILDERS: dict[str, Callable[[LAPoseConfig], nn.Module]] = {
    "tokenizer": Tokenizer,
    "inverse_dynamics": InverseDynamics,
    "forward_dynamics": ForwardDynamics,
    "pose_head": PoseHead,
    "pretrainer": LAPosePretrainer,
    "posttrainer": LAPosePosttrainer,
    "pose_encoder": PoseEncoder.from_config,
}

_PLAIN_TYPES = (str, int, float, bool, type(None), torch.Tensor)


@dataclass
class Checkpoint:
    """A loaded checkpoint: its config, rebuilt modules (by part name) and extra data."""

    config: LAPoseConfig
    modules: dict[str, nn.Module]
    extra: dict[str, Any] = field(default_factory=dict)


def part_name(module: nn.Module) -> str:
    """The part name under which ``module`` is stored (its class in :data:`MODULE_BUILDERS`)."""
    for name, builder in MODULE_BUILDERS.items():
        if type(module) is getattr(builder, "__self__", builder):  # a class, or its from_config
            return name
    raise TypeError(f"{type(module).__name__} is not a checkpointable LA-Pose module")


def _check_plain(value: Any, where: str) -> None:
    """Raise ``TypeError`` unless ``value`` is made of what ``weights_only`` loading accepts."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise TypeError(f"{where}: key {key!r} is not a str or int")
            _check_plain(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_plain(item, f"{where}[{index}]")
    elif not isinstance(value, _PLAIN_TYPES):
        raise TypeError(f"{where}: {type(value).__name__} cannot be stored in a checkpoint")


def module_fingerprint(module: nn.Module) -> str:
    """SHA-256 of a module's state (names, dtypes, shapes and bytes): identifies trained weights,
    e.g. the backbone a pose encoder was trained against."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def save_checkpoint(
    path: str | os.PathLike,
    model_or_parts: nn.Module | Mapping[str, nn.Module],
    config: LAPoseConfig,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write modules, their config and ``extra`` to ``path`` atomically.

    Args:
        model_or_parts: one module of :data:`MODULE_BUILDERS`' classes, or a mapping from part
            names to such modules (e.g. ``{"inverse_dynamics": idm, "pose_head": head}``).
        config: the config the modules were built from.
        extra: plain data (str, numbers, bools, None, tensors, lists, dicts).
    Returns:
        The written path.
    """
    parts = (
        {part_name(model_or_parts): model_or_parts}
        if isinstance(model_or_parts, nn.Module)
        else dict(model_or_parts)
    )
    for name, module in parts.items():
        if part_name(module) != name:
            raise TypeError(f"part {name!r} holds a {type(module).__name__}")
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "config": config.to_dict(),
        "modules": {name: module.state_dict() for name, module in parts.items()},
        "extra": dict(extra or {}),
    }
    _check_plain(payload["extra"], "extra")
    return atomic_write(path, lambda stream: torch.save(payload, stream))


class NotACheckpointError(ValueError):
    """A file that cannot be read as an LA-Pose checkpoint; the message is one line that names
    the file and says why."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"{path} is not an LA-Pose checkpoint: {reason}")


_NOT_TORCH = "not a file written by torch.save"
_CODE_OBJECTS = (
    "it holds objects other than tensors and plain data (refused: reading it would run code "
    "from the file)"
)


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def read_checkpoint_payload(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` with one-line answers for files that are not
    checkpoints (empty, text, truncated, random bytes, pickles of code objects). Missing or
    unreadable files raise ``OSError`` as usual. Used for every ``.pt`` this project reads."""
    if os.path.getsize(path) == 0:  # OSError when missing
        raise NotACheckpointError(path, "the file is empty")
    with open(path, "rb") as stream:  # OSError when missing or unreadable
        payload = _torch_load(path, stream, map_location)
    if not isinstance(payload, dict):
        raise NotACheckpointError(path, f"it holds a {type(payload).__name__}, not a dict")
    return payload


def _torch_load(path: str | os.PathLike, stream: BinaryIO, map_location) -> Any:
    """``torch.load`` of an open file; every way it fails on a bad file becomes one line."""
    try:
        return torch.load(stream, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        if "Unsupported global" in str(error):
            raise NotACheckpointError(path, _CODE_OBJECTS) from None
        raise NotACheckpointError(path, _NOT_TORCH) from None
    except (RuntimeError, OSError, EOFError, zipfile.BadZipFile, IndexError, KeyError) as error:
        # a zip archive without its end, or a seek past the end of the file
        truncated = "central directory" in str(error) or isinstance(error, (EOFError, OSError))
        reason = "truncated (its archive ends early)" if truncated else _NOT_TORCH
        raise NotACheckpointError(path, reason) from None


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device = "cpu"
) -> Checkpoint:
    """Read a checkpoint (``weights_only=True``) and rebuild its modules from the stored config.

    Modules come back in eval mode on ``map_location``; wrappers keep their usual freezing.
    Raises :class:`NotACheckpointError` (a ``ValueError``, one line) for any file that is not an
    LA-Pose checkpoint of this version.
    """
    payload = read_checkpoint_payload(path, map_location)
    if payload.get("format") != FORMAT:
        raise NotACheckpointError(path, "it has no LA-Pose format marker")
    if payload.get("version") != VERSION:
        raise NotACheckpointError(
            path, f"version {payload.get('version')!r}, this code reads version {VERSION}"
        )
    try:
        config = LAPoseConfig.from_dict(payload["config"])
    except (KeyError, TypeError, ValueError) as error:
        raise NotACheckpointError(path, f"its config does not fit ({_first_line(error)})") from None
    modules = {}
    for name, state in payload["modules"].items():
        if name not in MODULE_BUILDERS:
            raise NotACheckpointError(path, f"unknown part {name!r}")
        module = MODULE_BUILDERS[name](config)
        try:
            module.load_state_dict(state)
        except RuntimeError as error:
            reason = f"part {name!r} does not fit its config ({_first_line(error)})"
            raise NotACheckpointError(path, reason) from None
        modules[name] = module.to(map_location).eval()
    return Checkpoint(config=config, modules=modules, extra=payload.get("extra", {}))
