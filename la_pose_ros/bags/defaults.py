"""Defaults of the bag tools, in a module light enough for the CLI to import while parsing."""

# Seconds ``from-sequence`` adds to a sequence's stamps (which start near 0) unless told
# otherwise: 2023-11-14 22:13:20 UTC. Stamps near 0 (1970) are treated as invalid or unset by
# tf2 buffers, Foxglove and other tools.
DEFAULT_TIME_OFFSET_S = 1_700_000_000.0

# la_pose_ros.bags.writer.FORMATS: the bag formats written (test/ros/test_bag_cli.py checks it)
BAG_FORMATS = ("mcap", "sqlite3", "ros1")

# la_pose_core.model.config.OUTPUT_RATE_MODES and OutputRateConfig().max_hz (that module
# imports torch through its package): replay's --output-rate and --max-rate-hz (test_bags.py
# checks they agree)
OUTPUT_RATE_MODES = ("model", "camera")
DEFAULT_MAX_RATE_HZ = 30.0
