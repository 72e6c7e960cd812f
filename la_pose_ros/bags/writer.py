"""Write rclpy messages into a bag of any format: rosbag2 mcap or sqlite3, or ROS 1.

Messages are serialised with rclpy (CDR, byte-identical to what a ROS 2 node sends). For ROS 1
bags they are migrated by rosbags' converter into ROS 1 definitions (``std_msgs/Header`` gains its
``seq``), as ``rosbags-convert`` does. Connections are created on first use of a topic.

A bag is written into a hidden temporary folder beside its final path and moved there only when
complete: a run that fails midway leaves nothing under the final name (and nothing that blocks a
re-run). An existing output is refused with :class:`OutputExists` (an ``OSError``: one line from
``la-pose``) unless ``overwrite``, which replaces it once the new bag is complete.
"""

import contextlib
import io
import shutil
import tempfile
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
ROS1_SUFFIX = ".bag"


class OutputExists(FileExistsError):
    """The output bag is there already (and ``overwrite`` was not asked for)."""


def bag_output_path(path: str | Path, format: str) -> Path:
    """Where a bag of ``format`` is written: ROS 1 bags get ``.bag`` when their name lacks it."""
    path = Path(path)
    if format == "ros1" and path.suffix != ROS1_SUFFIX:
        path = path.with_name(path.name + ROS1_SUFFIX)
    return path


def check_output(path: str | Path, format: str, overwrite: bool = False) -> Path:
    """The output path (see :func:`bag_output_path`); :class:`OutputExists` if it exists and not
    ``overwrite``."""
    path = bag_output_path(path, format)
    if not overwrite and (path.exists() or path.is_symlink()):
        raise OutputExists(f"{path} exists already (pass --overwrite to replace it)")
    return path


def remove_path(path: Path) -> None:
    """Remove a file, link or folder tree (nothing if absent)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


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

    ``path``: a folder for rosbag2 formats, a ``.bag`` file for ROS 1 (the suffix is added when
    missing; ``self.path`` is the real path). It must not exist unless ``overwrite``. The bag
    appears there when the ``with`` block ends without an exception; after one, nothing does.
    """

    def __init__(self, path: str | Path, format: str = "mcap", overwrite: bool = False) -> None:
        if format not in FORMATS:
            raise ValueError(f"bag format must be one of {FORMATS}, got {format!r}")
        self.path = check_output(path, format, overwrite)
        self.format = format
        self.overwrite = overwrite
        self.typestore = bag_typestore()
        self.ros1_converters: dict[str, object] = {}
        if format == "ros1":
            self.ros1 = ros1_typestore(self.typestore)
        self.connections: dict[str, object] = {}
        self.staging: Path | None = None  # the temporary folder while open

    def __enter__(self) -> "BagWriter":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.staging = Path(
            tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".partial", dir=self.path.parent)
        )
        partial = self.staging / self.path.name  # same name: rosbag2 names its files after it
        try:
            if self.format == "ros1":
                self.writer = Ros1Writer(partial)
            else:
                plugin = StoragePlugin.MCAP if self.format == "mcap" else StoragePlugin.SQLITE3
                self.writer = Ros2Writer(partial, version=9, storage_plugin=plugin)
            self.writer.open()
        except BaseException:
            shutil.rmtree(self.staging, ignore_errors=True)
            raise
        return self

    def __exit__(self, exc_type, *exc_info) -> None:
        staging, self.staging = self.staging, None
        try:
            self.writer.close()
            if exc_type is None:
                check_output(self.path, self.format, self.overwrite)  # none appeared meanwhile
                remove_path(self.path)
                (staging / self.path.name).rename(self.path)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

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
