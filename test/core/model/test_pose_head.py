"""Pose head outputs, targets from ground-truth poses, and the loss terms."""

import dataclasses
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from la_pose_core.geometry import make_pose
from la_pose_core.model.config import get_config
from la_pose_core.model.losses import PoseLoss, sign_invariant_quaternion_l1
from la_pose_core.model.pose_head import PoseHead
from la_pose_core.model.targets import MIN_SCALE_M, PoseTargets

CONFIG = get_config("tiny")


def test_head_outputs_unit_canonical_quaternions_and_decoupled_scale():
    torch.manual_seed(0)
    head = PoseHead(CONFIG)
    outputs = head(torch.randn(3, 5, CONFIG.inverse_dynamics.dim) * 5)
    assert outputs["translation_normalized"].shape == (3, 5, 3)
    assert outputs["quaternion"].shape == (3, 5, 4)
    assert outputs["fov"].shape == (3, 5)
    assert outputs["scale"].shape == outputs["log_scale"].shape == (3,)
    norms = outputs["quaternion"].norm(dim=-1)
    torch.testing.assert_close(norms, torch.ones_like(norms))
    assert (outputs["quaternion"][..., 3] >= 0).all()
    torch.testing.assert_close(outputs["scale"], outputs["log_scale"].exp())
    factor = outputs["scale"].clamp_min(1.0)[:, None, None]
    torch.testing.assert_close(outputs["translation"], outputs["translation_normalized"] * factor)


def test_head_accepts_any_number_of_pairs_and_is_non_causal():
    torch.manual_seed(0)
    head = PoseHead(CONFIG).eval()
    actions = torch.randn(1, 4, CONFIG.inverse_dynamics.dim)
    with torch.no_grad():
        assert head(actions[:, :1])["translation"].shape == (1, 1, 3)
        edited = actions.clone()
        edited[:, 3] += 1.0
        change = head(edited)["translation_normalized"] - head(actions)["translation_normalized"]
    assert change[:, 0].abs().max() > 0  # pair 0 sees pair 3 (and the scale token does too)


def straight_clip(step_m: float, pairs: int = 3) -> np.ndarray:
    yaw = Rotation.from_euler("y", 0.1).as_matrix()  # (3, 3) turn about the camera's down axis
    return np.stack([make_pose(yaw, [0.0, 0.0, step_m])] * pairs)  # (P, 4, 4)


def test_targets_normalise_translations_by_the_clip_scale():
    poses = np.stack([straight_clip(2.0), straight_clip(0.5)])  # (2, 3, 4, 4)
    targets = PoseTargets.from_relative_poses(poses, fov=np.array([0.8, 0.9]))
    # scale 2 m > 1 m: divided; scale 0.5 m: kept metric (divided by max(s, 1) = 1)
    torch.testing.assert_close(targets.translation_normalized[0, :, 2], torch.ones(3))
    torch.testing.assert_close(targets.translation_normalized[1, :, 2], torch.full((3,), 0.5))
    torch.testing.assert_close(targets.log_scale, torch.tensor([math.log(2.0), math.log(0.5)]))
    expected_q = torch.tensor(Rotation.from_euler("y", 0.1).as_quat(), dtype=torch.float32)
    torch.testing.assert_close(targets.quaternion[0, 1], expected_q)
    assert targets.fov.shape == (2, 3)
    torch.testing.assert_close(targets.fov[:, 0], torch.tensor([0.8, 0.9]))


def test_standing_still_has_a_finite_log_scale_target():
    targets = PoseTargets.from_relative_poses(straight_clip(0.0)[None], fov=0.7)
    assert targets.log_scale.item() == pytest.approx(math.log(MIN_SCALE_M))


unit_quaternions = st.lists(st.floats(-1, 1), min_size=4, max_size=4).filter(
    lambda q: np.linalg.norm(q) > 0.1
)


@settings(max_examples=50, deadline=None)
@given(unit_quaternions, unit_quaternions)
def test_quaternion_loss_is_the_same_for_q_and_minus_q(q, target):
    q = torch.nn.functional.normalize(torch.tensor(q), dim=0)
    target = torch.nn.functional.normalize(torch.tensor(target), dim=0)
    assert sign_invariant_quaternion_l1(q, target) == sign_invariant_quaternion_l1(-q, target)
    assert sign_invariant_quaternion_l1(-target, target) == 0


def fake_outputs(targets: PoseTargets, offset: float) -> dict:
    return {
        "translation_normalized": targets.translation_normalized + offset,
        "quaternion": -targets.quaternion,  # same rotations, opposite sign
        "fov": targets.fov + offset,
        "log_scale": targets.log_scale + offset,
    }


def test_loss_terms_and_fixed_weights():
    targets = PoseTargets.from_relative_poses(straight_clip(2.0)[None], fov=0.8)
    pose_head = dataclasses.replace(CONFIG.pose_head, weight_translation=2.0, weight_fov=0.5)
    losses = PoseLoss(pose_head)(fake_outputs(targets, 0.1), targets)
    assert losses["loss_translation"].item() == pytest.approx(0.3)  # L1 over 3 components
    assert losses["loss_rotation"].item() == 0.0
    assert losses["loss_fov"].item() == pytest.approx(0.1)
    assert losses["loss_scale"].item() == pytest.approx(0.1)
    assert losses["loss"].item() == pytest.approx(2.0 * 0.3 + 0.5 * 0.1 + 0.1)


def test_learned_uncertainty_weighting_adds_trainable_log_variances():
    targets = PoseTargets.from_relative_poses(straight_clip(2.0)[None], fov=0.8)
    loss = PoseLoss(dataclasses.replace(CONFIG.pose_head, learned_uncertainty=True))
    assert [p.shape for p in loss.parameters()] == [(4,)]
    with torch.no_grad():
        loss.log_variances.copy_(torch.tensor([0.0, 1.0, 2.0, -1.0]))
    total = loss(fake_outputs(targets, 0.1), targets)["loss"]
    expected = 0.3 + (0.0 * math.exp(-1) + 1) + (0.1 * math.exp(-2) + 2) + (0.1 * math.e - 1)
    assert total.item() == pytest.approx(expected, rel=1e-5)
    total.backward()
    assert loss.log_variances.grad.abs().sum() > 0


def yaw_quaternions(degrees) -> torch.Tensor:
    return torch.tensor(
        Rotation.from_euler("y", np.asarray(degrees)[:, None], degrees=True).as_quat(),
        dtype=torch.float32,
    )


def test_rotation_vector_loss_is_the_squared_angle_error_in_degrees():
    targets = PoseTargets.from_relative_poses(straight_clip(2.0)[None], fov=0.8)
    pairs = targets.quaternion.shape[1]
    pose_head = dataclasses.replace(CONFIG.pose_head, rotation_loss="rotation_vector_mse")
    outputs = fake_outputs(targets, 0.0)  # same rotations, opposite sign: no loss
    assert PoseLoss(pose_head)(outputs, targets)["loss_rotation"].item() == pytest.approx(
        0, abs=1e-6
    )
    turn = math.degrees(0.1)  # straight_clip's turn per pair
    outputs["quaternion"] = yaw_quaternions([turn + 4.0] * pairs)[None]  # 4 degrees off
    loss = PoseLoss(pose_head)(outputs, targets)["loss_rotation"].item()
    assert loss == pytest.approx(16.0, rel=1e-3)


def test_the_squared_rotation_loss_keeps_rare_turns_that_l1_shrinks_to_nothing():
    """One pair in ten turns by 10 degrees, the predictor cannot tell which: the best constant
    prediction under L1 is the median (no turn), under the squared error the mean (1 degree)."""
    target_degrees = [10.0] + [0.0] * 9
    targets = PoseTargets(
        translation_normalized=torch.zeros(1, 10, 3),
        quaternion=yaw_quaternions(target_degrees)[None],
        fov=torch.zeros(1, 10),
        log_scale=torch.zeros(1),
    )

    def best_constant_yaw(rotation_loss: str) -> float:
        pose_head = dataclasses.replace(CONFIG.pose_head, rotation_loss=rotation_loss)
        candidates = np.linspace(0.0, 3.0, 31)
        losses = []
        for degrees in candidates:
            outputs = fake_outputs(targets, 0.0)
            outputs["quaternion"] = yaw_quaternions([degrees] * 10)[None]
            losses.append(PoseLoss(pose_head)(outputs, targets)["loss_rotation"].item())
        return float(candidates[int(np.argmin(losses))])

    assert best_constant_yaw("quaternion_l1") == 0.0
    assert best_constant_yaw("rotation_vector_mse") == pytest.approx(1.0)


def test_an_unknown_rotation_loss_is_refused():
    with pytest.raises(ValueError, match="rotation_loss"):
        dataclasses.replace(
            CONFIG, pose_head=dataclasses.replace(CONFIG.pose_head, rotation_loss="geodesic")
        )


def test_batch_input_norm_lets_the_head_see_small_differences_between_pairs():
    """Latent actions that are one constant vector plus 2 % of differences: standardised per
    dimension (running statistics in eval), the differences reach the head at unit scale."""
    torch.manual_seed(0)
    config = dataclasses.replace(
        CONFIG, pose_head=dataclasses.replace(CONFIG.pose_head, input_norm="batch")
    )
    head = PoseHead(config).train()
    dim = CONFIG.inverse_dynamics.dim
    latents = torch.randn(dim) + 0.02 * torch.randn(8, 5, dim)  # (B, P, d)
    head(latents)
    standardised = head.input_norm(latents.reshape(-1, dim))  # (B P, d)
    assert float(standardised.std(0).mean()) == pytest.approx(1.0, abs=0.05)
    head.eval()
    with torch.no_grad():
        torch.testing.assert_close(
            head(latents[:1])["translation"], head(latents)["translation"][:1], rtol=0, atol=1e-5
        )
    with pytest.raises(ValueError, match="input_norm"):
        PoseHead(
            dataclasses.replace(
                config, pose_head=dataclasses.replace(config.pose_head, input_norm="layer")
            )
        )


def camera_fov_config(dropout: float = 0.1, focal_units: bool = False):
    head = dataclasses.replace(
        CONFIG.pose_head,
        camera_fov_input=True,
        camera_fov_dropout=dropout,
        motion_in_focal_units=focal_units,
    )
    return dataclasses.replace(CONFIG, pose_head=head)


def test_the_camera_fov_embedding_starts_at_zero_so_a_trained_head_keeps_its_outputs():
    torch.manual_seed(0)
    plain = PoseHead(CONFIG).eval()
    with_fov = PoseHead(camera_fov_config()).eval()
    missing, unexpected = with_fov.load_state_dict(plain.state_dict(), strict=False)
    assert (
        sorted(missing)
        == ["camera_fov.known.bias", "camera_fov.known.weight", "camera_fov.unknown"]
        and not unexpected
    )
    actions = torch.randn(2, 4, CONFIG.inverse_dynamics.dim)
    with torch.no_grad():
        before = plain(actions)["translation"]
        for fov in (torch.tensor([0.5, 1.0]), torch.tensor([math.nan, 0.7]), None):
            torch.testing.assert_close(with_fov(actions, fov)["translation"], before)


def test_the_head_tells_cameras_apart_by_fov_and_unknown_is_its_own_embedding():
    torch.manual_seed(0)
    head = PoseHead(camera_fov_config()).eval()
    for parameter in head.camera_fov.parameters():
        torch.nn.init.normal_(parameter)
    actions = torch.randn(1, 3, CONFIG.inverse_dynamics.dim).expand(3, -1, -1)  # one clip x3
    with torch.no_grad():
        fovs = torch.tensor([math.radians(30), math.radians(60), math.nan])  # (3,)
        quaternion = head(actions, fovs)["quaternion"]  # (3, P, 4)
        unknown = head(actions[:1])["quaternion"]  # camera_fov None
        plain = PoseHead(CONFIG)  # a head without the input ignores a given FoV
        torch.testing.assert_close(plain(actions, fovs)["scale"], plain(actions)["scale"])
    assert (quaternion[0] - quaternion[1]).abs().max() > 1e-3
    torch.testing.assert_close(quaternion[2:], unknown)


def test_in_training_the_given_share_of_clips_has_an_unknown_fov():
    torch.manual_seed(0)
    embedding = PoseHead(camera_fov_config(dropout=0.25)).camera_fov
    for parameter in embedding.parameters():
        torch.nn.init.normal_(parameter)
    fovs = torch.full((4000,), 0.7)
    told = embedding.train().told(fovs)  # (B,)
    unknown = (embedding(told)[:, 0] == embedding.unknown).all(dim=-1)  # (B,)
    assert float(unknown.float().mean()) == pytest.approx(0.25, abs=0.03)
    torch.testing.assert_close(unknown, told.isnan())
    assert not embedding.eval().told(fovs).isnan().any()
    with pytest.raises(ValueError, match="camera_fov_dropout"):
        PoseHead(camera_fov_config(dropout=1.0))


def test_in_focal_units_one_image_motion_is_a_smaller_turn_through_a_narrower_camera():
    """With the FoV embedding at its zero start the head's raw outputs do not depend on the
    FoV: yaw, pitch, lateral and vertical motion then scale with tan(fov / 2), roll and the
    forward motion stay."""
    torch.manual_seed(0)
    head = PoseHead(camera_fov_config(focal_units=True)).eval()
    actions = torch.randn(1, 3, CONFIG.inverse_dynamics.dim).expand(2, -1, -1)  # one clip x2
    narrow, wide = math.radians(30.0), math.radians(60.0)
    with torch.no_grad():
        out = head(actions, torch.tensor([narrow, wide]))
    ratio = math.tan(narrow / 2) / math.tan(wide / 2)
    q, t = out["quaternion"], out["translation_normalized"]  # (2, P, 4), (2, P, 3)
    tangent = q[..., :3] / q[..., 3:]  # (2, P, 3): the rotation axis times tan(angle / 2)
    torch.testing.assert_close(tangent[0, :, :2], ratio * tangent[1, :, :2])
    torch.testing.assert_close(tangent[0, :, 2], tangent[1, :, 2])
    torch.testing.assert_close(t[0, :, :2], ratio * t[1, :, :2])
    torch.testing.assert_close(t[0, :, 2], t[1, :, 2])


def test_in_focal_units_an_unknown_fov_is_the_heads_own_estimate():
    from la_pose_core.model.pose_head import focal_units

    predicted = torch.tensor([[0.5, 0.7], [0.9, 1.1]])  # (B, P) radians
    factor = focal_units(torch.tensor([math.nan, math.radians(45.0)]), predicted)
    assert factor.shape == (2, 1, 1)
    assert float(factor[0]) == pytest.approx(math.tan(0.3) / math.tan(math.radians(22.5)))
    assert float(factor[1]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="motion_in_focal_units needs"):
        head = dataclasses.replace(CONFIG.pose_head, motion_in_focal_units=True)
        PoseHead(dataclasses.replace(CONFIG, pose_head=head))
