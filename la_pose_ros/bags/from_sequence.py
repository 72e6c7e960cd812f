"""``la-pose bag from-sequence``: a bag from a KITTI-layout folder (or the synthetic world).

Topics written (stamps: the sequence's ``times.txt`` plus ``time_offset_s``, by default
:data:`DEFAULT_TIME_OFFSET_S` so that the stamps are plausible wall-clock times, not 1970):

- ``/camera/image_raw`` sensor_msgs/Image (mono8 or rgb8), or ``/camera/image_raw/compressed``
  sensor_msgs/CompressedImage (PNG, lossless) with ``compressed``;
- ``/camera/camera_info`` sensor_msgs/CameraInfo (the sequence's intrinsics; images are
  rectified, so no distortion);
- with ground truth: ``/ground_truth/odometry`` nav_msgs/Odometry of ``base_link_gt`` in
  ``world`` and the same on ``/tf``. The vehicle pose is the camera pose moved through the camera
  extrinsics (``base_from_camera``; default: forward-looking camera at the base origin). The
  ground truth has its own frames so it never collides with the estimator's ``odom -> base_link``.
"""

from pathlib import Path

import numpy as np
from builtin_interfaces.msg import Time
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CameraInfo
from tf2_msgs.msg import TFMessage
from tqdm import tqdm

from la_pose_core.data import KittiSequence
from la_pose_core.geometry import BASE_FROM_OPTICAL, inverse
from la_pose_ros.bags.defaults import DEFAULT_TIME_OFFSET_S
from la_pose_ros.bags.writer import BagWriter
from la_pose_ros.messages import image_message, transform, transform_stamped

IMAGE_TOPIC = "/camera/image_raw"
CAMERA_INFO_TOPIC = "/camera/camera_info"
GROUND_TRUTH_TOPIC = "/ground_truth/odometry"
CAMERA_FRAME = "camera_optical"
WORLD_FRAME, GROUND_TRUTH_BASE_FRAME = "world", "base_link_gt"


def camera_info_message(sequence: KittiSequence, stamp) -> CameraInfo:
    k = sequence.require_intrinsics()
    message = CameraInfo(width=k.width, height=k.height, distortion_model="plumb_bob")
    message.header.stamp = stamp
    message.header.frame_id = CAMERA_FRAME
    message.d = [0.0] * 5
    message.k = k.matrix.ravel().tolist()
    message.r = np.eye(3).ravel().tolist()
    message.p = np.hstack([k.matrix, np.zeros((3, 1))]).ravel().tolist()
    return message


def ground_truth_odometry(world_from_base: np.ndarray, stamp) -> Odometry:
    message = Odometry()
    message.header.stamp = stamp
    message.header.frame_id = WORLD_FRAME
    message.child_frame_id = GROUND_TRUTH_BASE_FRAME
    pose = transform(world_from_base)
    message.pose.pose.position.x = pose.translation.x
    message.pose.pose.position.y = pose.translation.y
    message.pose.pose.position.z = pose.translation.z
    message.pose.pose.orientation = pose.rotation
    return message


def sequence_to_bag(
    sequence_dir: str | Path,
    out: str | Path,
    format: str = "mcap",
    compressed: bool = False,
    base_from_camera: np.ndarray = BASE_FROM_OPTICAL,
    time_offset_s: float = DEFAULT_TIME_OFFSET_S,
    max_frames: int | None = None,
    overwrite: bool = False,
) -> int:
    """Write the bag; returns the number of frames written.

    ``out`` gets ``.bag`` for ROS 1 when its name lacks it (see
    :func:`la_pose_ros.bags.writer.bag_output_path`); an existing output raises
    :class:`la_pose_ros.bags.writer.OutputExists` unless ``overwrite``.
    """
    sequence = KittiSequence(sequence_dir)
    sequence.require_intrinsics()  # camera_info needs them: fail before writing anything
    count = len(sequence) if max_frames is None else min(max_frames, len(sequence))
    image_topic = IMAGE_TOPIC + ("/compressed" if compressed else "")
    offset_ns = round(time_offset_s * 1e9)
    with BagWriter(out, format, overwrite) as bag:
        for index in tqdm(range(count), desc="from-sequence", unit="frame", leave=False):
            # integer nanoseconds: a float of ~1.7e9 s would round the stamps to ~0.2 us
            stamp_ns = round(float(sequence.stamps[index]) * 1e9) + offset_ns
            stamp = Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
            image = image_message(sequence.image(index), stamp, CAMERA_FRAME, compressed)
            bag.write(image_topic, image, stamp_ns)
            bag.write(CAMERA_INFO_TOPIC, camera_info_message(sequence, stamp), stamp_ns)
            if sequence.world_from_cam is not None:
                # world: the first base_link; base = cam moved through the extrinsics
                world_from_base = (
                    base_from_camera @ sequence.world_from_cam[index] @ inverse(base_from_camera)
                )
                odometry = ground_truth_odometry(world_from_base, stamp)
                bag.write(GROUND_TRUTH_TOPIC, odometry, stamp_ns)
                tf = transform_stamped(world_from_base, stamp, WORLD_FRAME, GROUND_TRUTH_BASE_FRAME)
                bag.write("/tf", TFMessage(transforms=[tf]), stamp_ns)
    return count
