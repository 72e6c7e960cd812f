"""The paper-scale config: full-depth shapes on the meta device, a real CPU pass at reduced depth.

A full-depth paper forward takes about a minute per two frames on two CPU cores, so the real
pass keeps the paper image size (960x448), patch size and widths (1536-D latent actions, 50-D
bottleneck, tokenizer, forward dynamics and pose head widths) but uses one block per transformer
and two frames. Full depth and 16 frames are checked shape-only on the meta device.
"""

import dataclasses

import pytest
import torch

from la_pose_core.model.config import get_config
from la_pose_core.model.forward_dynamics import ForwardDynamics
from la_pose_core.model.lapose import LAPosePosttrainer, LAPosePretrainer

PAPER = get_config("paper")


def test_full_depth_paper_model_shapes_on_the_meta_device():
    rows, cols = PAPER.code_grid
    with torch.device("meta"):
        post = LAPosePosttrainer(PAPER)
        outputs = post(torch.empty(1, 16, 3, 448, 960))
        fdm = ForwardDynamics(PAPER)
        codes = torch.empty(1, 15, rows, cols, dtype=torch.long)
        logits = fdm(codes, outputs["decoded_actions"])["logits"]
    assert outputs["latent_actions"].shape == (1, 15, 1536)
    assert outputs["bottleneck_codes"].shape == (1, 15, 50)
    assert outputs["translation"].shape == (1, 15, 3)
    assert outputs["scale"].shape == (1,)
    assert logits.shape == (1, 15, 28, 60, PAPER.tokenizer.codebook_size)


@pytest.mark.slow
def test_paper_size_forward_pass_on_cpu_at_batch_1():
    shallow = dataclasses.replace(
        PAPER,
        clip_len=2,
        inverse_dynamics=dataclasses.replace(PAPER.inverse_dynamics, depth=1),
        forward_dynamics=dataclasses.replace(PAPER.forward_dynamics, depth=1, refiner_depth=1),
        pose_head=dataclasses.replace(PAPER.pose_head, depth=1),
    )
    torch.manual_seed(0)
    pretrainer = LAPosePretrainer(shallow).eval()
    posttrainer = LAPosePosttrainer(shallow, pretrainer.inverse_dynamics).eval()
    frames = torch.rand(1, 2, 3, 448, 960)
    with torch.no_grad():
        pre = pretrainer(frames)
        pose = posttrainer.pose_head(pre["latent_actions"])
    assert pre["indices"].shape == (1, 2, 28, 60)
    assert pre["logits"].shape == (1, 1, 28, 60, PAPER.tokenizer.codebook_size)
    assert pre["latent_actions"].shape == (1, 1, 1536)
    assert pre["bottleneck_codes"].shape == (1, 1, 50)
    assert torch.isfinite(pre["loss"])
    assert pose["quaternion"].shape == (1, 1, 4) and torch.isfinite(pose["translation"]).all()
