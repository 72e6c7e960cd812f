"""Tiny pose estimators (random weights) and their ONNX exports, made once per session."""

import dataclasses

import pytest
import torch

from la_pose_core.model.checkpoint import save_checkpoint
from la_pose_core.model.config import get_config
from la_pose_core.model.lapose import LAPosePosttrainer

TINY = get_config("tiny")
# the shipped model's features at test size: frozen XFeat, a two-level cost volume, batch norms
# on the action code and the head input (eval mode: running statistics, here random), the
# camera FoV input of the head (its embedding, here random) with motion in focal units
TINY_XFEAT = dataclasses.replace(
    TINY,
    name="tiny_xfeat",
    inverse_dynamics=dataclasses.replace(
        TINY.inverse_dynamics,
        frame_encoder="xfeat",
        patch_size=8,
        correlation_radius=1,
        correlation_levels=2,
        normalized_bottleneck=True,
        code_norm="batch",
    ),
    pose_head=dataclasses.replace(
        TINY.pose_head, input_norm="batch", camera_fov_input=True, motion_in_focal_units=True
    ),
)
CONFIGS = {"tiny": TINY, "tiny_xfeat": TINY_XFEAT}


def _randomise_batch_norms(model: torch.nn.Module) -> None:
    """Running statistics away from (0, 1), and a camera FoV embedding away from its zero
    start, so that the exported graphs must carry them."""
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    if model.pose_head.camera_fov is not None:
        with torch.no_grad():
            for parameter in model.pose_head.camera_fov.parameters():
                parameter.normal_()


def write_checkpoint(path, config, seed: int = 0):
    torch.manual_seed(seed)
    model = LAPosePosttrainer(config)
    _randomise_batch_norms(model)
    return save_checkpoint(path, model, config)


@pytest.fixture(scope="session", params=sorted(CONFIGS))
def exported(request, tmp_path_factory):
    """``(checkpoint path, export folder)`` of a tiny config, exported next to it."""
    from la_pose_core.export.exporter import export_onnx
    from la_pose_core.export.manifest import default_export_folder
    from la_pose_core.inference.estimator import estimator_modules
    from la_pose_core.model.checkpoint import load_checkpoint

    folder = tmp_path_factory.mktemp(request.param)
    checkpoint = write_checkpoint(folder / f"{request.param}.pt", CONFIGS[request.param])
    loaded = load_checkpoint(checkpoint)
    out = default_export_folder(checkpoint)
    export_onnx(*estimator_modules(loaded, str(checkpoint)), loaded.config, out, str(checkpoint))
    return checkpoint, out
