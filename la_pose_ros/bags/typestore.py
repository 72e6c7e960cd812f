"""The rosbags type store for our bags: ROS 2 kilted types plus la_pose_msgs.

Our own message definitions are read from the installed interface package
(``share/la_pose_msgs/msg/*.msg`` next to wherever ``la_pose_msgs`` is importable from), so bags
carry exactly the definitions the node publishes, and Foxglove or rosbags can decode them.
"""

import functools
import importlib.util
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

OUR_PACKAGE = "la_pose_msgs"


def interface_share_directory(package: str = OUR_PACKAGE) -> Path:
    """``<prefix>/share/<package>`` of the prefix the Python module was installed into."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise FileNotFoundError(f"{package} is not importable: build the interfaces first")
    for parent in Path(spec.origin).resolve().parents:
        candidate = parent / "share" / package / "msg"
        if candidate.is_dir():
            return candidate.parent
    raise FileNotFoundError(f"no share/{package}/msg above {spec.origin}")


@functools.cache
def bag_typestore() -> Typestore:
    """ROS 2 kilted message types plus ``la_pose_msgs/msg/*``."""
    typestore = get_typestore(Stores.ROS2_KILTED)
    types = {}
    for path in sorted((interface_share_directory() / "msg").glob("*.msg")):
        types.update(get_types_from_msg(path.read_text(), f"{OUR_PACKAGE}/msg/{path.stem}"))
    typestore.register(types)
    return typestore
