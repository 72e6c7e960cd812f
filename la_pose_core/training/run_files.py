"""The files of a training run's folder ``RUN_DIR`` (the layout is described in
:mod:`la_pose_core.training.trainer`)."""

RUN_FORMAT = "la_pose.train_run"  # the "format" field of config.json
RUN_VERSION = 1
CONFIG_FILE = "config.json"
LAST_CHECKPOINT = "last.pt"
MODEL_FILE = "model.pt"
SUMMARY_FILE = "summary.json"
TENSORBOARD_DIR = "tb"
