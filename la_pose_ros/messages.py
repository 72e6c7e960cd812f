"""Core results -> ROS messages. Pure functions: every output copies the input image's stamp."""

import array

import cv2
import numpy as np
from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped, Quaternion, Transform, TransformStamped, Vector3
from la_pose_msgs.msg import LatentAction, RelativePose
from nav_msgs.msg import Odometry
from sensor_msgs.msg import CompressedImage, Image

from la_pose_core.geometry import translation_quaternion_from_pose
from la_pose_core.inference.estimator import StepResult
from la_pose_core.odometry import OdometryEstimate


def stamp_to_seconds(stamp: Time) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def seconds_to_time(seconds: float) -> Time:
    """Seconds -> builtin_interfaces/Time, rounded to the nearest nanosecond."""
    total_ns = round(seconds * 1e9)
    return Time(sec=total_ns // 1_000_000_000, nanosec=total_ns % 1_000_000_000)


def image_message(
    image: np.ndarray, stamp: Time, frame_id: str, compressed: bool = False
) -> Image | CompressedImage:
    """uint8 ``(H, W)`` or ``(H, W, 3)`` RGB -> Image (mono8 / rgb8) or CompressedImage (PNG)."""
    if compressed:
        bgr = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        ok, encoded = cv2.imencode(".png", bgr)
        if not ok:
            raise ValueError("PNG encoding failed")
        message = CompressedImage(format="png", data=array.array("B", encoded.tobytes()))
    else:
        message = Image(height=image.shape[0], width=image.shape[1], is_bigendian=0)
        message.encoding = "mono8" if image.ndim == 2 else "rgb8"
        message.step = image.strides[0]
        message.data = array.array("B", np.ascontiguousarray(image).tobytes())
    message.header.stamp = stamp
    message.header.frame_id = frame_id
    return message


def vector3(values: np.ndarray) -> Vector3:
    x, y, z = (float(v) for v in values)
    return Vector3(x=x, y=y, z=z)


def quaternion(values: np.ndarray) -> Quaternion:
    x, y, z, w = (float(v) for v in values)
    return Quaternion(x=x, y=y, z=z, w=w)


def transform(pose: np.ndarray) -> Transform:
    translation, rotation = translation_quaternion_from_pose(pose)
    return Transform(translation=vector3(translation), rotation=quaternion(rotation))


def odometry_message(
    estimate: OdometryEstimate, stamp: Time, odom_frame: str, base_frame: str
) -> Odometry:
    """nav_msgs/Odometry: pose of ``base_frame`` in ``odom_frame``, twist in ``base_frame``."""
    message = Odometry()
    message.header.stamp = stamp
    message.header.frame_id = odom_frame
    message.child_frame_id = base_frame
    pose = transform(estimate.odom_from_base)
    message.pose.pose.position.x = pose.translation.x
    message.pose.pose.position.y = pose.translation.y
    message.pose.pose.position.z = pose.translation.z
    message.pose.pose.orientation = pose.rotation
    message.pose.covariance = estimate.pose_covariance.astype(np.float64).ravel()
    message.twist.twist.linear = vector3(estimate.linear_velocity)
    message.twist.twist.angular = vector3(estimate.angular_velocity)
    message.twist.covariance = estimate.twist_covariance.astype(np.float64).ravel()
    return message


def pose_stamped(odometry: Odometry) -> PoseStamped:
    return PoseStamped(header=odometry.header, pose=odometry.pose.pose)


def transform_stamped(pose: np.ndarray, stamp: Time, parent: str, child: str) -> TransformStamped:
    message = TransformStamped(transform=transform(pose))
    message.header.stamp = stamp
    message.header.frame_id = parent
    message.child_frame_id = child
    return message


def pair_message(message_type, stamp: Time, previous_stamp: Time, camera_frame: str):
    """A message about the pair (previous image, this image): header and both stamps set."""
    message = message_type()
    message.header.stamp = stamp
    message.header.frame_id = camera_frame
    message.previous_stamp = previous_stamp
    message.current_stamp = stamp
    return message


def relative_pose_message(
    result: StepResult,
    stamp: Time,
    previous_stamp: Time,
    camera_frame: str,
    covariance: np.ndarray,
) -> RelativePose:
    """la_pose_msgs/RelativePose of a result that has a pair (``result.translation`` set)."""
    message = pair_message(RelativePose, stamp, previous_stamp, camera_frame)
    message.translation_normalized = vector3(result.translation_normalized)
    message.translation = vector3(result.translation)
    message.rotation = quaternion(result.quaternion)
    message.fov = float(result.fov)
    message.metric_scale = float(result.scale)
    message.covariance = covariance.astype(np.float64).ravel()
    return message


def latent_action_message(
    result: StepResult, stamp: Time, previous_stamp: Time, camera_frame: str
) -> LatentAction:
    message = pair_message(LatentAction, stamp, previous_stamp, camera_frame)
    message.frame_rate = float(1.0 / (result.stamp - result.previous_stamp))
    message.bottleneck = np.asarray(result.latent, dtype=np.float32)
    return message
