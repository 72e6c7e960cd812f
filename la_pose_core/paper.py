"""The paper's clip recipe (LA-Pose), named once. Imports nothing, so any module may use it.

LA-Pose trains on clips of ``PAPER_CLIP_LEN`` frames whose frame rate is drawn in
``PAPER_FPS_RANGE``, resized to ``PAPER_FRAME_SIZE``, and evaluates per clip of
``PAPER_CLIP_LEN`` frames. Read by the ``paper`` preset (:mod:`la_pose_core.model.config`), the
clip sampler (:class:`la_pose_core.data.clips.ClipSampler`), the evaluation protocol
(:data:`la_pose_core.metrics.EVAL_CLIP_LEN`), the synthetic renderer's default size, the bag
extractor (``la_pose_ros.bags.extract``), the command-line defaults
(:mod:`la_pose_core.cli.defaults`) and ``la-pose evaluate``'s training-rate range for a
checkpoint that records none.

(Not in :mod:`la_pose_core.model.config`: importing that imports torch, through
``la_pose_core.model``, and the data, metrics and command-line modules stay without it.)
"""

PAPER_CLIP_LEN = 16  # frames per clip (training and evaluation)
PAPER_FRAME_SIZE = (960, 448)  # (width, height) pixels of the model input
PAPER_FPS_RANGE = (1.0, 4.0)  # (lowest, highest) clip frame rate, Hz
