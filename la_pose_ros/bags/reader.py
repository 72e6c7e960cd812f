"""Reading bags of any format with rosbags' AnyReader: topics, images, ground-truth poses.

A bag path is a ROS 1 bag file (recognised by its ``#ROSBAG V2.0`` header whatever its name, so
also without ``.bag``), a rosbag2 folder (``metadata.yaml`` + storage files), or a lone ``.mcap``
/ ``.db3`` file (read as a rosbag2 folder of one file). A bag that cannot be opened raises
:class:`BadBag` with the reason; a message that cannot be deserialised or decoded is reported to
the caller per message (see :func:`iter_images`).
"""

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from rosbags.highlevel import AnyReader, AnyReaderError

from la_pose_core.geometry import make_pose, matrix_from_quaternion
from la_pose_ros.bags.typestore import bag_typestore
from la_pose_ros.image_decoding import BadImage, decode_image_message

IMAGE_TYPES = ("sensor_msgs/msg/Image", "sensor_msgs/msg/CompressedImage")
POSE_TYPES = ("nav_msgs/msg/Odometry", "geometry_msgs/msg/PoseStamped")
ROS1_MAGIC = b"#ROSBAG V2.0"  # the first bytes of every ROS 1 bag


class BadBag(Exception):
    """A bag that cannot be read (missing, truncated, corrupt, or without the needed topic)."""


@dataclass(frozen=True)
class ImageFrame:
    stamp: float  # header stamp, seconds
    stamp_ns: int  # bag (receive) time, nanoseconds
    image: np.ndarray | None  # (H, W) or (H, W, 3) uint8 RGB; None when undecodable
    error: str | None  # why it could not be decoded
    message: object  # the deserialised rosbags message


def is_ros1_bag(path: Path) -> bool:
    """Whether ``path`` is a file that starts with the ROS 1 bag header."""
    if not path.is_file():
        return False
    try:
        with path.open("rb") as stream:
            return stream.read(len(ROS1_MAGIC)) == ROS1_MAGIC
    except OSError:
        return False


@contextlib.contextmanager
def open_bag(path: str | Path) -> Iterator[AnyReader]:
    """``with open_bag(path) as reader:`` an open AnyReader; :class:`BadBag` if it won't open."""
    path = Path(path)
    if not path.exists():
        raise BadBag(f"{path}: no such bag")
    with contextlib.ExitStack() as stack:
        readable = path
        if path.suffix != ".bag" and is_ros1_bag(path):
            # rosbags tells ROS 1 from rosbag2 by the suffix alone: read it through a .bag link
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="la_pose_bag_")))
            readable = folder / f"{path.name}.bag"
            readable.symlink_to(path.resolve())
        try:
            reader = AnyReader([readable], default_typestore=bag_typestore())
            reader.open()
        except (AnyReaderError, OSError, ValueError, KeyError) as error:
            reason = str(error).replace(str(readable), str(path))
            raise BadBag(f"{path}: cannot open bag ({reason})") from None
        try:
            yield reader
        finally:
            reader.close()


def choose_topic(reader: AnyReader, topic: str | None, types: tuple[str, ...], what: str) -> str:
    """The requested topic, or the only/most frequent topic of one of ``types``."""
    candidates = {
        connection.topic: connection.msgcount
        for connection in reader.connections
        if connection.msgtype in types
    }
    if topic is not None:
        if topic not in candidates:
            raise BadBag(f"{what} topic {topic} not in bag (candidates: {sorted(candidates)})")
        return topic
    if not candidates:
        raise BadBag(f"no {what} topic ({' or '.join(types)}) in the bag")
    return max(candidates, key=candidates.get)


def iter_images(
    reader: AnyReader, topic: str, max_size: int = 8192, decode: bool = True
) -> Iterator[ImageFrame]:
    """Images of ``topic`` in bag order; undecodable ones come with ``error`` set.

    ``decode=False`` only deserialises (``image`` stays None) for callers that decode
    themselves, such as the odometry pipeline.
    """
    connections = [c for c in reader.connections if c.topic == topic]
    for connection, stamp_ns, rawdata in reader.messages(connections=connections):
        try:
            message = reader.deserialize(rawdata, connection.msgtype)
        except Exception as error:  # corrupt payload: report it, keep going
            yield ImageFrame(stamp_ns * 1e-9, stamp_ns, None, f"undeserialisable: {error}", None)
            continue
        stamp = message.header.stamp.sec + message.header.stamp.nanosec * 1e-9
        if not decode:
            yield ImageFrame(stamp, stamp_ns, None, None, message)
            continue
        try:
            image = decode_image_message(message, max_size, max_size)
        except BadImage as error:
            yield ImageFrame(stamp, stamp_ns, None, str(error), message)
            continue
        yield ImageFrame(stamp, stamp_ns, image, None, message)


def pose_matrix(pose) -> np.ndarray:
    """A geometry_msgs/Pose (rosbags' or rclpy's) -> ``(4, 4)`` parent_from_child."""
    q, p = pose.orientation, pose.position
    return make_pose(matrix_from_quaternion([q.x, q.y, q.z, q.w]), [p.x, p.y, p.z])


def read_poses(reader: AnyReader, topic: str) -> tuple[np.ndarray, np.ndarray]:
    """``(N,)`` header stamps and ``(N, 4, 4)`` poses (parent_from_child) of a pose topic."""
    connections = [c for c in reader.connections if c.topic == topic]
    stamps, poses = [], []
    for connection, _, rawdata in reader.messages(connections=connections):
        message = reader.deserialize(rawdata, connection.msgtype)
        pose = message.pose.pose if connection.msgtype == POSE_TYPES[0] else message.pose
        poses.append(pose_matrix(pose))
        stamps.append(message.header.stamp.sec + message.header.stamp.nanosec * 1e-9)
    if not poses:
        raise BadBag(f"pose topic {topic} has no messages")
    return np.asarray(stamps), np.stack(poses)


def first_camera_info(reader):
    """The bag's first sensor_msgs/CameraInfo message (any topic), or None."""
    for connection, _, rawdata in reader.messages():
        if connection.msgtype == "sensor_msgs/msg/CameraInfo":
            return reader.deserialize(rawdata, connection.msgtype)
    return None
