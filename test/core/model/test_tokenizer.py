"""VQ-VAE tokenizer: code grid, index decoding, training losses."""

import dataclasses

import torch

from la_pose_core.model.config import get_config
from la_pose_core.model.tokenizer import Tokenizer


def test_encode_gives_a_code_grid_and_decode_indices_matches_decode():
    torch.manual_seed(0)
    config = get_config("tiny")
    tokenizer = Tokenizer(config).eval()
    images = torch.rand(2, 3, config.image_height, config.image_width)
    quantized, indices, loss = tokenizer.encode(images)
    rows, cols = config.code_grid
    assert quantized.shape == (2, config.tokenizer.code_dim, rows, cols)
    assert indices.shape == (2, rows, cols)
    assert indices.dtype == torch.long
    assert 0 <= int(indices.min()) and int(indices.max()) < config.tokenizer.codebook_size
    assert loss.ndim == 0
    from_quantized = tokenizer.decode(quantized)
    assert from_quantized.shape == images.shape
    torch.testing.assert_close(tokenizer.decode_indices(indices), from_quantized)


def test_paper_downsampling_turns_960x448_into_60x28_codes():
    config = get_config("paper")
    narrow = dataclasses.replace(
        config.tokenizer, base_channels=4, max_channels=8, res_blocks=1, codebook_size=16
    )
    tokenizer = Tokenizer(dataclasses.replace(config, tokenizer=narrow)).eval()
    with torch.no_grad():
        _, indices, _ = tokenizer.encode(torch.rand(1, 3, 448, 960))
    assert indices.shape == (1, 28, 60)


def test_training_forward_reports_losses_and_trains_the_encoder():
    torch.manual_seed(0)
    config = get_config("tiny")
    tokenizer = Tokenizer(config).train()
    images = torch.rand(2, 3, config.image_height, config.image_width)
    outputs = tokenizer(images)
    assert outputs["reconstruction"].shape == images.shape
    assert outputs["loss_commitment"] > 0
    torch.testing.assert_close(
        outputs["loss"], outputs["loss_reconstruction"] + outputs["loss_commitment"]
    )
    outputs["loss"].backward()
    assert tokenizer.encoder.net[0].weight.grad.abs().sum() > 0
    assert tokenizer.decoder.net[0].weight.grad.abs().sum() > 0
