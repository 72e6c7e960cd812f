"""Rosbag tools (``la-pose bag ...``): all bag I/O goes through the ``rosbags`` library, so ROS 1
``.bag``, rosbag2 sqlite3 and mcap are read and written without a ROS install."""
