"""Test-time refinement: motion bank, affine weights, refined translation."""

import time

import numpy as np
import pytest
import torch

from la_pose_core.pose_autoencoder import MotionBank, PoseEncoder, affine_weights, refine
from test.core.pose_autoencoder.helpers import driving_motions

LATENT_DIM = 32


@pytest.fixture(scope="module")
def encoder() -> PoseEncoder:
    torch.manual_seed(0)
    return PoseEncoder(LATENT_DIM, use_fps=False, translation_scale=1.0).eval()


@pytest.fixture(scope="module")
def bank(encoder: PoseEncoder) -> MotionBank:
    poses = driving_motions(np.random.default_rng(0), (200,))
    return MotionBank.from_relative_poses(poses, encoder, source="posttrain:synthetic")


def test_bank_contents(bank: MotionBank, encoder: PoseEncoder) -> None:
    assert len(bank) == 200
    assert bank.latents.shape == (200, LATENT_DIM)
    assert bank.translations.shape == (200, 3)
    assert bank.source == "posttrain:synthetic"
    with torch.no_grad():
        expected = encoder(
            torch.tensor(bank.translations[:3]).float(), torch.tensor(bank.quaternions[:3]).float()
        )
    np.testing.assert_allclose(bank.latents[:3], expected.numpy(), atol=1e-6)


def test_nearest_is_sorted_by_translation_distance(bank: MotionBank) -> None:
    query = np.array([0.1, 0.0, 1.5])
    indices = bank.nearest(query, k=5)
    distances = np.linalg.norm(bank.translations - query, axis=-1)
    np.testing.assert_array_equal(indices, np.argsort(distances)[:5])
    with pytest.raises(ValueError, match="k must be"):
        bank.nearest(query, k=0)


@pytest.mark.parametrize("index", [0, 17, 123])
def test_a_bank_pose_latent_recovers_its_translation(bank: MotionBank, index: int) -> None:
    z = bank.latents[index]
    initial = bank.translations[index] + np.array([0.01, -0.005, 0.02])  # a nearby estimate
    result = refine(z, initial, bank, k=3)
    assert index in result.indices
    np.testing.assert_allclose(result.translation, bank.translations[index], atol=1e-6)
    expected_weights = (result.indices == index).astype(float)
    np.testing.assert_allclose(result.weights, expected_weights, atol=1e-6)
    assert result.residual < 1e-6 * np.linalg.norm(z)


def test_weights_sum_to_one(bank: MotionBank) -> None:
    rng = np.random.default_rng(1)
    for _ in range(10):
        z = rng.normal(size=LATENT_DIM) * 5
        result = refine(torch.tensor(z), torch.tensor([0.0, 0.0, 2.0]), bank, k=4)
        assert result.weights.shape == (4,)
        assert result.weights.sum() == pytest.approx(1.0, abs=1e-9)


def test_affine_combination_is_recovered_exactly() -> None:
    rng = np.random.default_rng(2)
    basis = rng.normal(size=(3, 16))
    weights = np.array([0.2, 1.3, -0.5])  # affine: sums to 1, one negative
    np.testing.assert_allclose(affine_weights(weights @ basis, basis), weights, atol=1e-6)


def test_duplicate_bank_latents_stay_solvable() -> None:
    basis = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])  # rows 0 and 1 coincide
    weights = affine_weights(np.array([1.0, 0.0]), basis)
    assert np.all(np.isfinite(weights))
    assert weights.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(weights, [0.5, 0.5, 0.0], atol=1e-6)


def test_re_encoding_equals_precomputed_latents(bank: MotionBank, encoder: PoseEncoder) -> None:
    z = np.random.default_rng(3).normal(size=LATENT_DIM)
    initial = np.array([0.0, 0.0, 1.0])
    precomputed = refine(z, initial, bank, k=3)
    re_encoded = refine(z, initial, bank, encoder=encoder, k=3)
    np.testing.assert_allclose(re_encoded.translation, precomputed.translation, atol=1e-6)


def test_cost_per_call_is_printed(encoder: PoseEncoder) -> None:
    """Not a timing assertion: prints the cost of one call (``pytest -s`` shows it)."""
    poses = driving_motions(np.random.default_rng(4), (10_000,))
    big_bank = MotionBank.from_relative_poses(poses, encoder, source="posttrain:synthetic")
    z = np.random.default_rng(5).normal(size=LATENT_DIM)
    calls = 200
    start = time.perf_counter()
    for _ in range(calls):
        refine(z, np.array([0.0, 0.0, 1.5]), big_bank, k=3)
    per_call_us = (time.perf_counter() - start) / calls * 1e6
    print(f"\nrefine(): {per_call_us:.0f} us per call (bank 10000 motions, d={LATENT_DIM}, k=3)")


def test_bank_with_frame_rates() -> None:
    torch.manual_seed(1)
    encoder = PoseEncoder(LATENT_DIM, use_fps=True, translation_scale=1.0).eval()
    poses = driving_motions(np.random.default_rng(6), (50,))
    fps = np.where(np.arange(50) % 2 == 0, 2.0, 4.0)  # (N,)
    bank = MotionBank.from_relative_poses(poses, encoder, source="posttrain:synthetic", fps=fps)
    np.testing.assert_array_equal(bank.fps, fps)
    result = refine(bank.latents[7], bank.translations[7], bank, k=3)
    np.testing.assert_allclose(result.translation, bank.translations[7], atol=1e-6)
    re_encoded = refine(bank.latents[7], bank.translations[7], bank, encoder=encoder, k=3)
    np.testing.assert_allclose(re_encoded.translation, bank.translations[7], atol=1e-5)


def test_near_duplicate_neighbours_extrapolate_unless_regularised(encoder: PoseEncoder) -> None:
    """The failure the KITTI ablation shows: three almost identical bank motions make the
    plain affine weights explode; a ridge of 1e-2 keeps the result among the neighbours."""
    from la_pose_core.geometry import make_pose
    from la_pose_core.pose_autoencoder import TranslationRefiner

    steps = np.array([[0.0, 0.0, 2.000], [0.002, 0.0, 2.001], [0.0, 0.003, 1.999]])  # metres
    bank = MotionBank.from_relative_poses(make_pose(np.eye(3), steps), encoder, "posttrain")
    with torch.no_grad():  # a query latent slightly off the three (an encoder error)
        query = encoder(torch.tensor([[0.0, 0.0, 2.3]]), torch.tensor([[0.0, 0.0, 0.0, 1.0]]))
    query = query[0].double().numpy()
    plain = TranslationRefiner(bank, k=3)
    regularised = TranslationRefiner(bank, k=3, ridge=1e-2)
    wild = plain(query, steps[0])
    tame = regularised(query, steps[0])
    assert np.abs(wild.weights).max() > 5 and plain.mean_max_abs_weight > 5  # extrapolating
    assert np.abs(tame.weights).max() < 1.0 and tame.weights.sum() == pytest.approx(1.0)
    assert np.linalg.norm(tame.translation - steps.mean(axis=0)) < 0.01
    with pytest.raises(ValueError, match="ridge"):
        TranslationRefiner(bank, k=3, ridge=-1.0)
