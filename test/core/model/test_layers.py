"""Rotary attention and its streaming ring-buffer cache."""

import torch

from la_pose_core.model.layers import Attention, KeyValueCache, RotaryEmbedding


def test_rotary_scores_depend_only_on_position_offsets():
    torch.manual_seed(0)
    rotary = RotaryEmbedding(16)
    q, k = torch.randn(2, 1, 16), torch.randn(2, 1, 16)

    def score(query_position: float, key_position: float) -> torch.Tensor:
        rotated_q = rotary(q, torch.tensor([query_position]))
        rotated_k = rotary(k, torch.tensor([key_position]))
        return (rotated_q * rotated_k).sum(-1)

    torch.testing.assert_close(score(5, 2), score(3, 0), rtol=0, atol=1e-5)
    torch.testing.assert_close(score(100_005, 100_002), score(3, 0), rtol=0, atol=1e-5)


def test_cache_keeps_the_newest_positions_in_a_ring():
    cache = KeyValueCache(capacity=3)
    for position in range(5):
        marker = torch.full((1, 1, 1, 2), float(position))
        keys, values = cache.append(marker, -marker)
        assert keys.shape[2] == cache.length == min(position + 1, 3)
    assert sorted(keys[0, 0, :, 0].tolist()) == [2.0, 3.0, 4.0]
    assert torch.equal(values, -keys)


def test_streaming_attention_equals_causal_attention_over_the_sliding_window():
    torch.manual_seed(0)
    attention = Attention(dim=16, heads=2, rotary=True).eval()
    x = torch.randn(3, 7, 16)  # (N, L, D)
    cache = KeyValueCache(capacity=3)
    with torch.no_grad():
        for t in range(7):
            streamed = attention.step(x[:, t : t + 1], cache, torch.tensor([t]))  # (N, 1, D)
            start = max(0, t - 2)
            window = attention(x[:, start : t + 1], torch.arange(start, t + 1), causal=True)
            torch.testing.assert_close(streamed[:, 0], window[:, -1], rtol=0, atol=1e-6)
