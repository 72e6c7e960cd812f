"""Image tokenizer: a convolutional VQ-VAE whose frozen encoder gives the forward-dynamics target.

A frame ``(3, H, W)`` in [0, 1] is encoded into a ``(H / f, W / f)`` grid of code vectors, each
snapped to the nearest entry of a codebook (``vector_quantize_pytorch.VectorQuantize``, EMA
codebook updates); the codebook *indices* are what the forward dynamics model learns to predict.
With ``f = 16`` a 960x448 frame becomes 60x28 codes.

Contract:
    ``encode(images) -> (quantized, indices, loss)``; ``decode(quantized) -> images``;
    ``decode_indices(indices)`` equals ``decode(quantized)`` whenever the codebook is not being
    updated (eval mode, or frozen), because ``quantized`` is then exactly the looked-up codes.
"""

from __future__ import annotations

import itertools
import math

import torch.nn.functional as F
from torch import Tensor, nn
from vector_quantize_pytorch import VectorQuantize

from la_pose_core.model.config import LAPoseConfig


def _group_norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(32, channels), channels)


class ResidualBlock(nn.Module):
    """``GroupNorm -> SiLU -> conv3x3`` twice, plus a (1x1-projected) skip connection."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            _group_norm(in_channels),
            nn.SiLU(),
            nn.Conv2d(in_channels, out_channels, 3, padding=1),
            _group_norm(out_channels),
            nn.SiLU(),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
        )
        self.skip = (
            nn.Identity()
            if in_channels == out_channels
            else nn.Conv2d(in_channels, out_channels, 1)
        )

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C_in, h, w)`` -> ``(B, C_out, h, w)``."""
        return self.skip(x) + self.body(x)


def _stage_channels(config: LAPoseConfig) -> list[int]:
    """Channels of each resolution stage, full resolution first (``log2(f) + 1`` stages)."""
    tok = config.tokenizer
    stages = int(math.log2(tok.downsample)) + 1
    return [min(tok.base_channels * 2**i, tok.max_channels) for i in range(stages)]


class Encoder(nn.Module):
    """``(B, 3, H, W)`` image in [-1, 1] -> ``(B, code_dim, H / f, W / f)`` latents."""

    def __init__(self, config: LAPoseConfig) -> None:
        super().__init__()
        channels = _stage_channels(config)
        blocks = config.tokenizer.res_blocks
        layers: list[nn.Module] = [nn.Conv2d(3, channels[0], 3, padding=1)]
        for c_in, c_out in itertools.pairwise(channels):
            layers += [ResidualBlock(c_in, c_in) for _ in range(blocks)]
            layers.append(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1))  # halve h, w
        layers += [ResidualBlock(channels[-1], channels[-1]) for _ in range(blocks)]
        layers += [
            _group_norm(channels[-1]),
            nn.SiLU(),
            nn.Conv2d(channels[-1], config.tokenizer.code_dim, 1),
        ]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Upsample(nn.Module):
    """Nearest-neighbour x2 upsampling followed by a 3x3 convolution."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C_in, h, w)`` -> ``(B, C_out, 2h, 2w)``."""
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class Decoder(nn.Module):
    """``(B, code_dim, H / f, W / f)`` codes -> ``(B, 3, H, W)`` image in [-1, 1] (unclamped)."""

    def __init__(self, config: LAPoseConfig) -> None:
        super().__init__()
        channels = _stage_channels(config)[::-1]  # coarsest first
        blocks = config.tokenizer.res_blocks
        layers: list[nn.Module] = [nn.Conv2d(config.tokenizer.code_dim, channels[0], 3, padding=1)]
        for c_in, c_out in itertools.pairwise(channels):
            layers += [ResidualBlock(c_in, c_in) for _ in range(blocks)]
            layers.append(Upsample(c_in, c_out))
        layers += [ResidualBlock(channels[-1], channels[-1]) for _ in range(blocks)]
        layers += [_group_norm(channels[-1]), nn.SiLU(), nn.Conv2d(channels[-1], 3, 3, padding=1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class Tokenizer(nn.Module):
    """VQ-VAE over single frames. Images are ``(B, 3, H, W)`` floats in [0, 1]."""

    def __init__(self, config: LAPoseConfig) -> None:
        super().__init__()
        tok = config.tokenizer
        self.code_grid = config.code_grid
        self.encoder = Encoder(config)
        self.quantizer = VectorQuantize(
            dim=tok.code_dim,
            codebook_size=tok.codebook_size,
            decay=tok.codebook_decay,
            commitment_weight=tok.commitment_weight,
            accept_image_fmap=True,  # (B, C, h, w) in, (B, C, h, w) and (B, h, w) out
        )
        self.decoder = Decoder(config)

    def encode(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Quantise images.

        Args:
            images: ``(B, 3, H, W)`` in [0, 1].
        Returns:
            ``quantized`` ``(B, code_dim, h, w)``, ``indices`` ``(B, h, w)`` int64 codebook
            entries, ``loss`` scalar commitment loss (0 outside training mode).
        """
        latents = self.encoder(images * 2.0 - 1.0)  # (B, code_dim, h, w)
        quantized, indices, loss = self.quantizer(latents)  # (B, C, h, w), (B, h, w), ()
        return quantized, indices, loss

    def decode(self, quantized: Tensor) -> Tensor:
        """``(B, code_dim, h, w)`` codes -> ``(B, 3, H, W)`` images (about [0, 1], unclamped)."""
        return self.decoder(quantized) * 0.5 + 0.5  # (B, 3, H, W)

    def decode_indices(self, indices: Tensor) -> Tensor:
        """``(B, h, w)`` codebook indices -> ``(B, 3, H, W)`` images, as :meth:`decode`."""
        codes = self.quantizer.get_output_from_indices(indices)  # (B, code_dim, h, w)
        return self.decode(codes)

    def forward(self, images: Tensor) -> dict[str, Tensor]:
        """Reconstruct ``images`` ``(B, 3, H, W)`` in [0, 1] (tokenizer training).

        Returns a dict:
            ``reconstruction`` ``(B, 3, H, W)``; ``indices`` ``(B, h, w)``;
            ``loss_reconstruction`` ``()`` mean squared error; ``loss_commitment`` ``()``;
            ``loss`` ``()`` their sum (the codebook itself follows an EMA, no gradient).
        """
        quantized, indices, commitment = self.encode(images)
        reconstruction = self.decode(quantized)  # (B, 3, H, W)
        mse = F.mse_loss(reconstruction, images)
        return {
            "reconstruction": reconstruction,
            "indices": indices,
            "loss_reconstruction": mse,
            "loss_commitment": commitment,
            "loss": mse + commitment,
        }
