"""sensor_msgs/Image and CompressedImage -> numpy arrays the estimator takes, with validation.

Output: uint8 ``(H, W)`` for single-channel encodings, uint8 ``(H, W, 3)`` RGB for everything
else (colour, alpha dropped, Bayer demosaiced, YUV 4:2:2 converted); 16-bit is scaled to 8 bit.
Colour conversions are rosbags-image's (by duck typing, it reads rclpy messages directly).

Every way a message can be malformed raises :class:`BadImage` with a one-line reason, so the
node logs it and skips the frame: unknown encoding, an encoding that is no camera image
(floating-point or signed pixels: ``32FC1``, ``64FC1``, ``16SC1``..., depth maps and other
measurements: "unsupported encoding '32FC1' (...)"), zero size, a size over the limit or
different from the stream's, a ``step`` too small for the width, ``data`` shorter or longer than
``step * height``, an undecodable compressed payload or one that decodes to such pixels.
"""

import cv2
import numpy as np
from rosbags.image import ImageConversionError, ImageError, ImageFormatError
from rosbags.image.image import convert_color, to_cvtype

UNSUPPORTED_PREFIXES = ("nv",)  # 4:2:0 planar: data is 1.5 x height rows, rare on cameras
PIXEL_TYPES = (np.dtype(np.uint8), np.dtype(np.uint16))  # what a camera image holds


class BadImage(ValueError):
    """A message that does not hold a usable image (the reason is the message)."""


def check_size(width: int, height: int, max_width: int, max_height: int) -> None:
    if width <= 0 or height <= 0:
        raise BadImage(f"zero-size image ({width}x{height})")
    if width > max_width or height > max_height:
        raise BadImage(f"image {width}x{height} exceeds the limit {max_width}x{max_height}")


def to_uint8(image: np.ndarray) -> np.ndarray:
    """uint8 as it is, uint16 scaled to 8 bit; any other pixel type is :class:`BadImage`."""
    if image.dtype not in PIXEL_TYPES:
        raise BadImage(f"unsupported pixel type {image.dtype} (not a camera image)")
    return image if image.dtype == np.uint8 else (image >> 8).astype(np.uint8)


def decode_raw(msg, max_width: int, max_height: int) -> np.ndarray:
    """Decode a ``sensor_msgs/Image``."""
    check_size(msg.width, msg.height, max_width, max_height)
    if msg.encoding.startswith(UNSUPPORTED_PREFIXES):
        raise BadImage(f"unsupported encoding {msg.encoding!r}")
    try:
        bits, _, typestr, channels = to_cvtype(msg.encoding)
    except (ImageFormatError, ImageError, KeyError, ValueError) as error:
        raise BadImage(f"unsupported encoding {msg.encoding!r} ({error})") from None
    if np.dtype(typestr) not in PIXEL_TYPES:
        raise BadImage(
            f"unsupported encoding {msg.encoding!r} ({np.dtype(typestr)} pixels: not a camera "
            "image, e.g. a depth map)"
        )
    row_bytes = msg.width * channels * np.dtype(typestr).itemsize
    if msg.step < row_bytes:
        raise BadImage(f"step {msg.step} < {row_bytes} bytes of a {msg.width}-pixel row")
    if len(msg.data) != msg.step * msg.height:
        raise BadImage(f"data has {len(msg.data)} bytes, step * height = {msg.step * msg.height}")
    buffer = np.frombuffer(msg.data, np.uint8).reshape(msg.height, msg.step)[:, :row_bytes]
    dtype = np.dtype(typestr).newbyteorder(">" if msg.is_bigendian else "<")
    shape = (msg.height, msg.width) if channels == 1 else (msg.height, msg.width, channels)
    image = np.ascontiguousarray(buffer).view(dtype).reshape(shape).astype(typestr, copy=False)
    if channels == 1 and not msg.encoding.startswith("bayer"):  # mono8, mono16
        return to_uint8(image)
    try:
        rgb = convert_color(image, msg.encoding, "rgb8" if bits == 8 else "rgb16")
    except (ImageConversionError, cv2.error) as error:
        raise BadImage(f"cannot convert {msg.encoding!r} to RGB ({error})") from None
    return to_uint8(rgb)


def decode_compressed(msg, max_width: int, max_height: int) -> np.ndarray:
    """Decode a ``sensor_msgs/CompressedImage`` (JPEG, PNG, ...)."""
    if len(msg.data) == 0:
        raise BadImage("empty compressed image")
    image = cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise BadImage(f"undecodable compressed image (format {msg.format!r})")
    check_size(image.shape[1], image.shape[0], max_width, max_height)
    image = to_uint8(image)
    if image.ndim == 2:
        return image
    code = cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(image, code)


def decode_image_message(msg, max_width: int = 4096, max_height: int = 4096) -> np.ndarray:
    """Decode either message type (told apart by its ``format`` field)."""
    if hasattr(msg, "format"):
        return decode_compressed(msg, max_width, max_height)
    return decode_raw(msg, max_width, max_height)
