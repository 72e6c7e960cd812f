"""``la_pose_core.cli.defaults`` holds copies of values the parsers show (so that building the
command line imports no torch): each copy equals its source."""

import dataclasses

from la_pose_core.cli import defaults
from la_pose_core.cli.defaults import TRAIN_DEFAULTS


def test_presets_precisions_and_evaluation_values_equal_their_sources():
    from la_pose_core.evaluation.baselines import BASELINES
    from la_pose_core.metrics import EVAL_CLIP_LEN
    from la_pose_core.metrics.pairwise import STILL_THRESHOLD_M
    from la_pose_core.model.config import PRESETS, RefinementConfig, get_config
    from la_pose_core.model.precision import PRECISIONS

    assert defaults.PRESET_NAMES == tuple(sorted(PRESETS))
    for name, (clip_len, size) in defaults.PRESET_CLIPS.items():
        config = get_config(name)
        assert (clip_len, size) == (config.clip_len, (config.image_width, config.image_height))
    assert defaults.PRECISIONS == PRECISIONS
    assert defaults.EVAL_CLIP_LEN == EVAL_CLIP_LEN
    assert defaults.STILL_THRESHOLD_M == STILL_THRESHOLD_M
    assert defaults.BASELINES == BASELINES
    assert defaults.REFINE_RIDGE == RefinementConfig.ridge
    paper = get_config("paper")
    assert (defaults.CLIP_LEN, defaults.FRAME_SIZE) == (
        paper.clip_len,
        f"{paper.image_width}x{paper.image_height}",
    )


def test_the_paper_clip_recipe_is_read_from_its_one_home():
    from la_pose_core.cli.evaluate_command import PAPER_FPS_RANGE as evaluate_fallback
    from la_pose_core.data.clips import ClipSampler
    from la_pose_core.data.synthetic import DEFAULT_SIZE
    from la_pose_core.metrics import EVAL_CLIP_LEN
    from la_pose_core.model.config import get_config
    from la_pose_core.paper import PAPER_CLIP_LEN, PAPER_FPS_RANGE, PAPER_FRAME_SIZE

    assert (PAPER_CLIP_LEN, PAPER_FRAME_SIZE, PAPER_FPS_RANGE) == (16, (960, 448), (1.0, 4.0))
    paper = get_config("paper")
    assert (paper.clip_len, (paper.image_width, paper.image_height)) == (
        PAPER_CLIP_LEN,
        PAPER_FRAME_SIZE,
    )
    sampler = ClipSampler()
    assert (sampler.clip_len, (sampler.min_fps, sampler.max_fps)) == (
        PAPER_CLIP_LEN,
        PAPER_FPS_RANGE,
    )
    assert EVAL_CLIP_LEN == defaults.EVAL_CLIP_LEN == PAPER_CLIP_LEN
    assert DEFAULT_SIZE == PAPER_FRAME_SIZE and evaluate_fallback == PAPER_FPS_RANGE
    assert (defaults.MIN_FPS, defaults.MAX_FPS) == PAPER_FPS_RANGE


def test_shard_format_values_equal_the_writers():
    import inspect

    from la_pose_core.data.shards import ClipShardWriter
    from la_pose_core.data.shards.format import IMAGE_FORMATS

    parameters = inspect.signature(ClipShardWriter).parameters
    assert defaults.IMAGE_FORMAT == parameters["image_format"].default
    assert defaults.JPEG_QUALITY == parameters["jpeg_quality"].default
    assert set(defaults.IMAGE_FORMATS) == set(IMAGE_FORMATS)


def test_the_stage_specs_are_the_stages():
    from la_pose_core.training.stages import STAGES

    assert list(defaults.STAGES) == list(STAGES)
    for name, spec in defaults.STAGES.items():
        stage = STAGES[name]
        for field in dataclasses.fields(spec):
            assert getattr(spec, field.name) == getattr(stage, field.name), (name, field.name)


def test_every_train_option_default_is_copied():
    from la_pose_core.training.options import TrainOptions

    for option in dataclasses.fields(TrainOptions):
        if option.default is not dataclasses.MISSING:
            default = option.default
        elif option.default_factory is not dataclasses.MISSING:
            default = option.default_factory()
        else:
            continue
        assert option.name in defaults._TRAIN_DEFAULTS, f"copy TrainOptions.{option.name}"
        assert getattr(TRAIN_DEFAULTS, option.name) == default, option.name
    assert defaults.TRAIN_PRECISION == TRAIN_DEFAULTS.precision
