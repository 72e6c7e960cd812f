"""What the node learns about an image before deserialising it, and how many never arrived.

The node subscribes to the camera's serialised bytes (a raw subscription). At 30 Hz the model
uses 2 frames a second; the stamp alone decides that, and the stamp sits at a fixed place in the
bytes: after the 4-byte CDR encapsulation header come ``header.stamp.sec`` (int32) and
``header.stamp.nanosec`` (uint32), first in sensor_msgs/Image and CompressedImage alike. So only
the frames the estimator will use are deserialised (:func:`serialized_stamp`).

Frames lost before the callback (DDS history overrun, transport) never reach the node, but the
publisher numbers its samples: a gap in the publication sequence numbers is that many frames
lost (:class:`SequenceGaps`).
"""

import struct

from builtin_interfaces.msg import Time

# CDR encapsulation identifiers (first two bytes, big endian) of plain CDR, the one rmw_fastrtps
# writes for ROS 2 messages; with XCDR2's delimited encodings the stamp is elsewhere
PLAIN_CDR = {b"\x00\x00": ">", b"\x00\x01": "<"}  # CDR_BE, CDR_LE -> struct byte order


def serialized_stamp(data: bytes) -> Time | None:
    """``header.stamp`` of a serialised message that starts with a std_msgs/Header, or None
    when the bytes are not plain CDR (or too short): then deserialise to read it."""
    order = PLAIN_CDR.get(bytes(data[:2]))
    if order is None or len(data) < 12:
        return None
    sec, nanosec = struct.unpack_from(order + "iI", data, 4)
    return Time(sec=sec, nanosec=nanosec)


class SequenceGaps:
    """Counts samples lost between a publisher and this subscription from the publication
    sequence numbers in each sample's message info.

    Exact for one publisher per topic (a camera driver). A number that does not increase (the
    publisher restarted, or a second publisher interleaves) starts counting again from it, never
    counting a loss; a middleware that gives no number (None or 0) gives no count.
    """

    def __init__(self) -> None:
        self.last: int | None = None
        self.lost = 0

    def note(self, sequence_number: int | None) -> int:
        """Record the number of a received sample; returns how many were lost just before it."""
        if not sequence_number:
            return 0
        gap = 0
        if self.last is not None and sequence_number > self.last:
            gap = sequence_number - self.last - 1
        self.last = sequence_number
        self.lost += gap
        return gap
