"""On a CUDA GPU: the shipped model in fp32 and bf16 against the CPU, a training step of each
stage in bf16 autocast, and ``la-pose bench inference --device cuda``.

Marked ``cuda``: skipped without a CUDA device (test/conftest.py), selected by ``pytest -m
cuda`` and run by ``benchmarks/gpu.sh``.
"""

import dataclasses
import json

import numpy as np
import pytest
import torch

from la_pose_core.cli.main import main
from la_pose_core.data.synthetic.sequence import SyntheticSequence
from la_pose_core.inference.estimator import PoseEstimator
from la_pose_core.model.config import get_config
from la_pose_core.model.precision import autocast_context
from la_pose_core.training.options import TrainOptions
from la_pose_core.training.random_batch import random_clip_batch
from la_pose_core.training.stages import STAGES

pytestmark = pytest.mark.cuda

FRAMES = 10  # a synthetic drive at the model's 2 fps: every frame is used


@pytest.fixture(scope="module")
def drive() -> tuple[list[np.ndarray], list[float]]:
    sequence = SyntheticSequence(frames=FRAMES, seed=301, size=(256, 128), fps=2.0)
    return [sequence.image(i) for i in range(FRAMES)], [float(s) for s in sequence.stamps]


def stream(repo_root, drive, device: str, precision: str, epipolar_yaw: bool = False) -> list:
    """Every pair's StepResult of the shipped model over the drive (the network's numbers alone
    unless ``epipolar_yaw``: the keypoint matches' discrete choices are checked on their own)."""
    estimator = PoseEstimator.from_checkpoint(
        str(repo_root / "models/la_pose_demo.pt"), device=device, precision=precision
    )
    streaming = dataclasses.replace(estimator.config.streaming, epipolar_yaw=epipolar_yaw)
    estimator.set_streaming(streaming)
    results = [estimator.step(image, stamp) for image, stamp in zip(*drive, strict=True)]
    pairs = [r for r in results if r is not None and r.translation is not None]
    assert len(pairs) == FRAMES - 1
    return pairs


def angle_deg(q1: np.ndarray, q2: np.ndarray) -> float:
    """Angle between two unit quaternions (x, y, z, w) in degrees."""
    q1, q2 = np.asarray(q1, np.float64), np.asarray(q2, np.float64)
    q2 = q2 if np.dot(q1, q2) >= 0 else -q2
    return float(np.degrees(4.0 * np.arcsin(min(np.linalg.norm(q1 - q2) / 2.0, 1.0))))


def test_shipped_model_in_fp32_on_cuda_matches_the_cpu(repo_root, drive):
    cpu, gpu = stream(repo_root, drive, "cpu", "fp32"), stream(repo_root, drive, "cuda", "fp32")
    for a, b in zip(cpu, gpu, strict=True):  # TF32 convolutions: agreement to ~1e-3
        np.testing.assert_allclose(b.latent, a.latent, rtol=0, atol=2e-2)
        np.testing.assert_allclose(b.translation, a.translation, rtol=0, atol=2e-2)
        assert angle_deg(a.quaternion, b.quaternion) < 0.1


def test_the_epipolar_yaw_on_cuda_matches_the_cpu(repo_root, drive):
    cpu = stream(repo_root, drive, "cpu", "fp32", epipolar_yaw=True)
    gpu = stream(repo_root, drive, "cuda", "fp32", epipolar_yaw=True)
    assert sum(p.yaw_correction_deg is not None for p in gpu) >= len(gpu) - 2
    for a, b in zip(cpu, gpu, strict=True):  # keypoints may differ at ties: a looser bound
        assert angle_deg(a.quaternion, b.quaternion) < 0.3


def test_shipped_model_in_bf16_on_cuda_follows_fp32(repo_root, drive):
    cpu, gpu = stream(repo_root, drive, "cpu", "fp32"), stream(repo_root, drive, "cuda", "bf16")
    latents = np.stack([p.latent for p in cpu]), np.stack([p.latent for p in gpu])
    assert np.corrcoef(latents[0].ravel(), latents[1].ravel())[0, 1] > 0.99
    for a, b in zip(cpu, gpu, strict=True):
        cosine = np.dot(a.translation, b.translation) / (
            np.linalg.norm(a.translation) * np.linalg.norm(b.translation) + 1e-12
        )
        assert cosine > 0.95
        assert abs(np.linalg.norm(b.translation) / np.linalg.norm(a.translation) - 1) < 0.1
        assert angle_deg(a.quaternion, b.quaternion) < 1.0
    assert all(np.isfinite(p.world_from_cam).all() for p in gpu)


@pytest.mark.parametrize("stage_name", ["tokenizer", "pretrain", "posttrain"])
def test_a_training_step_on_cuda_in_bf16_autocast(stage_name):
    device, config = torch.device("cuda"), get_config("tiny")
    stage = STAGES[stage_name]
    torch.manual_seed(0)
    options = TrainOptions(stage=stage_name, run_dir="", data=[], config=config)
    model = stage.build(config, None, options).to(device).train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    with autocast_context(device, "bf16"):
        output = stage.step(model, random_clip_batch(config, 2, device), device, per_sample=False)
    output.loss.backward()
    optimizer.step()
    assert torch.isfinite(output.loss.detach())
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert all(p.dtype == torch.float32 and p.device.type == "cuda" for p in trainable)
    grads = [p.grad for p in trainable if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_bench_inference_on_cuda_in_bf16(capsys):
    argv = ["bench", "inference", "--config", "tiny", "--device", "cuda", "--precision", "bf16"]
    assert main([*argv, "--frames", "4", "--repeats", "2"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["device"].startswith("cuda") and report["precision"] == "bf16"
    assert report["peak_memory_kind"] == "cuda_allocated" and report["peak_memory_mb"] > 0
