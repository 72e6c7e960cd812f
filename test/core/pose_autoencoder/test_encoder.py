"""PoseEncoder: shapes, Fourier embedding, determinism, q / -q invariance."""

import numpy as np
import pytest
import torch

from la_pose_core.geometry import canonical_quaternion, translation_quaternion_from_pose
from la_pose_core.pose_autoencoder import FourierFeatures, PoseEncoder, canonical_quaternion_torch
from test.core.pose_autoencoder.helpers import driving_motions


def random_pose_inputs(seed: int, shape: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    poses = driving_motions(np.random.default_rng(seed), shape)
    translation, quaternion = translation_quaternion_from_pose(poses)
    return torch.tensor(translation, dtype=torch.float32), torch.tensor(quaternion).float()


def test_output_shape() -> None:
    encoder = PoseEncoder(latent_dim=24, use_fps=False, translation_scale=1.0)
    translation, quaternion = random_pose_inputs(0, (2, 5))
    assert encoder(translation, quaternion).shape == (2, 5, 24)
    assert encoder(translation[0, 0], quaternion[0, 0]).shape == (24,)


def test_output_shape_with_fps() -> None:
    encoder = PoseEncoder(latent_dim=16, use_fps=True, translation_scale=1.0)
    translation, quaternion = random_pose_inputs(1, (3, 4))
    assert encoder(translation, quaternion, torch.tensor(2.0)).shape == (3, 4, 16)
    per_clip = torch.tensor([[1.0], [2.0], [4.0]])  # (B, 1)
    assert encoder(translation, quaternion, per_clip).shape == (3, 4, 16)
    with pytest.raises(ValueError, match="use_fps"):
        encoder(translation, quaternion)
    with pytest.raises(ValueError, match="use_fps"):
        PoseEncoder(latent_dim=16, use_fps=False, translation_scale=1.0)(
            translation, quaternion, torch.tensor(2.0)
        )


def test_fourier_embedding_size_and_values() -> None:
    assert PoseEncoder(latent_dim=8, use_fps=False, translation_scale=1.0).embedding_dim == 7 * (
        1 + 2 * 6
    )
    assert PoseEncoder(latent_dim=8, use_fps=True, translation_scale=1.0).embedding_dim == 8 * (
        1 + 2 * 6
    )
    assert (
        PoseEncoder(
            latent_dim=8, fourier_levels=3, use_fps=False, translation_scale=1.0
        ).embedding_dim
        == 7 * 7
    )
    fourier = FourierFeatures(levels=2)
    x = torch.tensor([[0.5, -1.0]])  # (1, 2)
    expected = [0.5, np.sin(0.5), np.sin(1.0), np.cos(0.5), np.cos(1.0)]
    expected += [-1.0, np.sin(-1.0), np.sin(-2.0), np.cos(-1.0), np.cos(-2.0)]
    np.testing.assert_allclose(fourier(x)[0].numpy(), expected, rtol=1e-6)
    assert fourier.output_dim(2) == 10


def test_mlp_layers() -> None:
    encoder = PoseEncoder(latent_dim=32, use_fps=False, translation_scale=1.0)
    linears = [m for m in encoder.mlp if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [
        (91, 64), (64, 128), (128, 256), (256, 32)
    ]  # fmt: skip
    assert sum(isinstance(m, torch.nn.ReLU) for m in encoder.mlp) == 3


def test_deterministic() -> None:
    translation, quaternion = random_pose_inputs(2, (4,))
    torch.manual_seed(7)
    first = PoseEncoder(latent_dim=12, use_fps=False, translation_scale=1.0)
    torch.manual_seed(7)
    second = PoseEncoder(latent_dim=12, use_fps=False, translation_scale=1.0)
    out = first(translation, quaternion)
    torch.testing.assert_close(out, first(translation, quaternion), rtol=0, atol=0)
    torch.testing.assert_close(out, second(translation, quaternion), rtol=0, atol=0)


def test_q_and_minus_q_give_the_same_latent() -> None:
    encoder = PoseEncoder(latent_dim=12, use_fps=False, translation_scale=1.0)
    translation, quaternion = random_pose_inputs(3, (6,))
    torch.testing.assert_close(encoder(translation, quaternion), encoder(translation, -quaternion))
    # 180-degree rotations (w = 0): the sign is fixed by the first non-zero of x, y, z.
    half_turn = torch.tensor([[0.0, 1.0, 0.0, 0.0], [0.0, -0.6, 0.8, 0.0]])
    t = translation[:2]
    torch.testing.assert_close(encoder(t, half_turn), encoder(t, -half_turn))


def test_quaternion_norm_does_not_matter() -> None:
    encoder = PoseEncoder(latent_dim=12, use_fps=False, translation_scale=1.0)
    translation, quaternion = random_pose_inputs(4, (5,))
    torch.testing.assert_close(
        encoder(translation, quaternion), encoder(translation, 3 * quaternion)
    )


def test_canonical_quaternion_matches_geometry() -> None:
    rng = np.random.default_rng(5)
    quaternions = rng.normal(size=(64, 4))
    quaternions[:4, 3] = 0.0  # half turns
    quaternions[4:6, 3] = 0.0
    quaternions[4:6, 0] = 0.0  # w = x = 0
    expected = canonical_quaternion(quaternions)
    actual = canonical_quaternion_torch(torch.tensor(quaternions)).numpy()
    np.testing.assert_allclose(actual, expected, atol=1e-12)


def test_encode_relative_poses_matches_forward() -> None:
    encoder = PoseEncoder(latent_dim=10, use_fps=True, translation_scale=1.0)
    poses = driving_motions(np.random.default_rng(6), (2, 3))
    translation, quaternion = random_pose_inputs(6, (2, 3))
    expected = encoder(translation, quaternion, torch.tensor(2.0))
    torch.testing.assert_close(encoder.encode_relative_poses(poses, 2.0), expected)


def test_translation_scale_divides_translation() -> None:
    torch.manual_seed(0)
    scaled = PoseEncoder(latent_dim=6, translation_scale=10.0, use_fps=False)
    torch.manual_seed(0)
    plain = PoseEncoder(latent_dim=6, use_fps=False, translation_scale=1.0)
    translation, quaternion = random_pose_inputs(8, (3,))
    torch.testing.assert_close(scaled(translation, quaternion), plain(translation / 10, quaternion))
