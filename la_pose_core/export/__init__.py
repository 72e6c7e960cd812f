"""An exported runtime: the streaming estimator's networks as ONNX graphs, run by ONNX Runtime.

``la-pose export`` (:mod:`la_pose_core.cli.export_command`) writes a folder with the streaming
step of the inverse dynamics model and the pose head as ONNX, and a manifest; the streaming
:class:`~la_pose_core.inference.estimator.PoseEstimator` runs it with ``runtime="onnxruntime"``
(the node's ``model.runtime``, ``la-pose evaluate --runtime``). Read in this order:

- :mod:`.stream_step`: ``InverseDynamicsStream.push`` as a pure function of tensors (state in,
  new state out, fixed-size cache with a mask);
- :mod:`.pose_head_graph`: the pose head with a dynamic number of pairs;
- :mod:`.exporter`: ``torch.onnx.export`` of both, and :mod:`.manifest`, what is written;
- :mod:`.runtime`: the folder in ONNX Runtime sessions, as drop-in stream and pose head;
  :mod:`.providers`: CPU, CUDA, TensorRT execution providers;
- :mod:`.verify`: both runtimes over one streamed sequence, the largest differences.

This package imports nothing at import time (the CLI reads no torch to build its parser).
"""
