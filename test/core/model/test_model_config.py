"""Config presets, validation and the dict round-trip that checkpoints rely on."""

import dataclasses

import pytest

from la_pose_core.model.config import PRESETS, LAPoseConfig, get_config


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_round_trip_through_plain_dicts(name):
    config = get_config(name)
    data = config.to_dict()
    assert LAPoseConfig.from_dict(data) == config
    assert data["inverse_dynamics"]["bottleneck_dim"] == 50


def test_paper_preset_has_the_paper_sizes():
    config = get_config("paper")
    assert (config.image_width, config.image_height, config.clip_len) == (960, 448, 16)
    assert config.inverse_dynamics.patch_size == 16
    assert config.inverse_dynamics.dim == 1536
    assert config.patch_grid == (28, 60)
    assert config.code_grid == (28, 60)
    assert config.forward_dynamics.refiner_depth == 4


def test_get_config_returns_independent_copies():
    first = get_config("tiny")
    first.inverse_dynamics.depth = 99
    assert get_config("tiny").inverse_dynamics.depth != 99


def test_unknown_preset_and_unknown_keys_are_rejected():
    with pytest.raises(ValueError, match="unknown config"):
        get_config("huge")
    data = get_config("tiny").to_dict()
    data["pose_head"]["colour"] = "red"
    with pytest.raises(ValueError, match="colour"):
        LAPoseConfig.from_dict(data)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"image_width": 70}, "not divisible"),
        ({"clip_len": 1}, "clip_len"),
        ({"tokenizer": dataclasses.replace(get_config("tiny").tokenizer, downsample=6)}, "power"),
        (
            {
                "streaming": dataclasses.replace(
                    get_config("tiny").streaming, epipolar_search_deg=0.2
                )
            },
            "epipolar_search_deg must be at least 0.4",
        ),
        (
            {"streaming": dataclasses.replace(get_config("tiny").streaming, fixed_lag=-1)},
            "fixed_lag must be at least 0",
        ),
    ],
)
def test_inconsistent_sizes_are_rejected(changes, message):
    with pytest.raises(ValueError, match=message):
        dataclasses.replace(get_config("tiny"), **changes)


def test_streaming_overrides_keep_the_fields_given_none():
    streaming = get_config("tiny").streaming
    changed = streaming.overridden(target_fps=4.0, epipolar_yaw=None, road_step=True)
    assert (changed.target_fps, changed.road_step) == (4.0, True)
    assert changed.epipolar_yaw == streaming.epipolar_yaw
    assert streaming.overridden() == streaming
