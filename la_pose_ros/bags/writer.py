"""Write rclpy messages into a bag of any format: rosbag2 mcap or sqlite3, or ROS 1.

Messages are serialised with rclpy (CDR, byte-identical to what a ROS 2 node sends). For ROS 1
bags they are migrated by rosbags' converter into ROS 1 definitions (``std_msgs/Header`` gains its
``seq``), as ``rosbags-convert`` does. Connections are created on first use of a topic.
"""

import contextlib
import io
from pathlib import Path

from rclpy.serialization import serialize_message
from rosbags.convert.converter import generate_message_converter
from rosbags.rosbag1 import Writer as Ros1Writer
from rosbags.rosbag2 import StoragePlugin
from rosbags.rosbag2 import Writer as Ros2Writer
from rosbags.typesys import Stores, get_typestore
from rosbags.typesys.store import Typestore

from la_pose_ros.bags.typestore import bag_typestore

FORMATS = ("mcap", "sqlite3", "ros1")


def message_type_name(message) -> str:
    """``sensor_msgs/msg/Image`` for an rclpy message instance."""
    module = type(message).__module__.split(".")  # e.g. sensor_msgs.msg._image
    return f"{module[0]}/msg/{type(message).__name__}"


def ros1_typestore(ros2: Typestore) -> Typestore:
    """The ROS 2 types with ROS 1's Header, for writing ROS 1 bags."""
    typestore = get_typestore(Stores.EMPTY)
    header = get_typestore(Stores.ROS1_NOETIC).fielddefs["std_msgs/msg/Header"]
    typestore.register({**ros2.fielddefs, "std_msgs/msg/Header": header})
    return typestore


class BagWriter:
    """Context manager: ``with BagWriter(path, "mcap") as bag: bag.write(topic, msg, stamp_ns)``.

    ``path``: a folder for rosbag2 formats (created; must not exist), a ``.bag`` file for ROS 1.
    """

    def __init__(self, path: str | Path, format: str = "mcap") -> None:
        if format not in FORMATS:
            raise ValueError(f"bag format must be one of {FORMATS}, got {format!r}")
        self.path = Path(path)
        self.format = format
        self.typestore = bag_typestore()
        self.ros1_converters: dict[str, object] = {}
        if format == "ros1":
            self.ros1 = ros1_typestore(self.typestore)
            self.writer = Ros1Writer(self.path)
        else:
            plugin = StoragePlugin.MCAP if format == "mcap" else StoragePlugin.SQLITE3
            self.writer = Ros2Writer(self.path, version=9, storage_plugin=plugin)
        self.connections: dict[str, object] = {}

    def __enter__(self) -> "BagWriter":
        self.writer.open()
        return self

    def __exit__(self, *exc_info) -> None:
        self.writer.close()

    def write(self, topic: str, message, stamp_ns: int) -> None:
        """Write an rclpy message at bag time ``stamp_ns``."""
        self.write_cdr(topic, message_type_name(message), serialize_message(message), stamp_ns)

    def write_cdr(self, topic: str, msgtype: str, data: bytes, stamp_ns: int) -> None:
        """Write an already CDR-serialised message of ``msgtype`` (e.g. copied from a bag)."""
        ros1 = self.format == "ros1"
        if topic not in self.connections:
            typestore = self.ros1 if ros1 else self.typestore
            self.connections[topic] = self.writer.add_connection(
                topic, msgtype, typestore=typestore
            )
        if ros1:
            data = self.to_ros1(msgtype)(data)
        self.writer.write(self.connections[topic], stamp_ns, data)

    def to_ros1(self, msgtype: str):
        """CDR bytes -> ROS 1 bytes of ``msgtype`` (converter built once per type)."""
        if msgtype not in self.ros1_converters:
            with contextlib.redirect_stdout(io.StringIO()):  # it echoes "will be migrated"
                self.ros1_converters[msgtype] = generate_message_converter(
                    self.typestore, self.ros1, msgtype, msgtype, {}, src_is2=True, dst_is2=False
                )
        return self.ros1_converters[msgtype]
