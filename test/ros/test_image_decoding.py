"""Image messages -> arrays: every supported encoding, row padding, and every malformation."""

import array

import cv2
import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image

from la_pose_ros.image_decoding import BadImage, decode_image_message

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)


def raw(encoding: str, pixels: np.ndarray, padding: int = 0, bigendian: bool = False) -> Image:
    rows = pixels.reshape(pixels.shape[0], -1).view(np.uint8)
    if padding:
        rows = np.concatenate([rows, np.zeros((rows.shape[0], padding), np.uint8)], axis=1)
    message = Image(height=pixels.shape[0], width=pixels.shape[1], encoding=encoding)
    message.is_bigendian = int(bigendian)
    message.step = rows.shape[1]
    message.data = array.array("B", rows.tobytes())
    return message


@pytest.mark.parametrize("padding", [0, 5])
def test_colour_encodings_come_out_rgb(padding):
    np.testing.assert_array_equal(decode_image_message(raw("rgb8", RGB, padding)), RGB)
    np.testing.assert_array_equal(
        decode_image_message(raw("bgr8", RGB[..., ::-1].copy(), padding)), RGB
    )
    rgba = np.concatenate([RGB, np.full((6, 8, 1), 255, np.uint8)], axis=2)
    np.testing.assert_array_equal(decode_image_message(raw("rgba8", rgba, padding)), RGB)
    bgra = np.concatenate([RGB[..., ::-1], np.full((6, 8, 1), 255, np.uint8)], axis=2)
    np.testing.assert_array_equal(decode_image_message(raw("bgra8", bgra, padding)), RGB)


def test_mono_encodings_stay_single_channel():
    mono = RNG.integers(0, 256, (6, 8), dtype=np.uint8)
    np.testing.assert_array_equal(decode_image_message(raw("mono8", mono, padding=3)), mono)
    mono16 = mono.astype(np.uint16) << 8
    np.testing.assert_array_equal(decode_image_message(raw("mono16", mono16)), mono)
    np.testing.assert_array_equal(
        decode_image_message(raw("mono16", mono16.byteswap(), bigendian=True)), mono
    )


def test_bayer_and_yuv422_are_converted():
    bayer = cv2.cvtColor(RGB, cv2.COLOR_RGB2GRAY)
    assert decode_image_message(raw("bayer_rggb8", bayer)).shape == (6, 8, 3)
    yuv = cv2.cvtColor(RGB, cv2.COLOR_RGB2YUV)
    uyvy = np.zeros((6, 8, 2), np.uint8)
    uyvy[..., 1] = yuv[..., 0]
    uyvy[:, 0::2, 0], uyvy[:, 1::2, 0] = yuv[:, 0::2, 1], yuv[:, 0::2, 2]
    decoded = decode_image_message(raw("yuv422", uyvy))
    assert decoded.shape == (6, 8, 3)
    assert np.abs(decoded.astype(int).mean() - RGB.astype(int).mean()) < 40


def test_compressed_images_decode():
    _ok, png = cv2.imencode(".png", RGB[..., ::-1])
    message = CompressedImage(format="png", data=array.array("B", png.tobytes()))
    np.testing.assert_array_equal(decode_image_message(message), RGB)


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda: raw("rgb9", RGB), "unsupported encoding"),
        (lambda: raw("nv12", RGB[..., 0]), "unsupported encoding"),
        (lambda: Image(encoding="rgb8"), "zero-size"),
        (lambda: raw("rgb8", np.zeros((5000, 2, 3), np.uint8)), "exceeds the limit"),
        (lambda: (m := raw("rgb8", RGB), setattr(m, "step", 10))[0], "step 10 <"),
        (lambda: (m := raw("rgb8", RGB), setattr(m, "data", m.data[:-1]))[0], "data has"),
        (lambda: CompressedImage(format="jpeg", data=array.array("B", b"garbage")), "undecodable"),
        (lambda: CompressedImage(format="jpeg"), "empty"),
    ],
)
def test_malformed_messages_raise_bad_image(make, reason):
    with pytest.raises(BadImage, match=reason):
        decode_image_message(make())


@pytest.mark.parametrize(
    ("encoding", "pixels"),
    [
        ("32FC1", RNG.random((6, 8), dtype=np.float32)),
        ("32FC1", np.full((6, 8), np.nan, np.float32)),
        ("64FC1", RNG.random((6, 8))),
        ("64FC1", np.full((6, 8), np.nan)),
        ("32FC3", RNG.random((6, 8, 3), dtype=np.float32)),
        ("16SC1", RNG.integers(-100, 100, (6, 8), dtype=np.int16)),
        ("8SC1", RNG.integers(-100, 100, (6, 8), dtype=np.int8)),
    ],
)
def test_float_and_signed_encodings_are_one_unsupported_encoding_line(encoding, pixels):
    """Depth maps and other measurements are not camera images: the same one-line reason as
    any other unsupported encoding, not a numpy error."""
    with pytest.raises(BadImage) as raised:
        decode_image_message(raw(encoding, pixels))
    message = str(raised.value)
    assert message.startswith(f"unsupported encoding {encoding!r}") and "\n" not in message


def test_a_floating_point_compressed_image_is_refused():
    ok, tiff = cv2.imencode(".tiff", RNG.random((6, 8), dtype=np.float32))
    assert ok
    message = CompressedImage(format="tiff", data=array.array("B", tiff.tobytes()))
    with pytest.raises(BadImage, match="unsupported pixel type float32"):
        decode_image_message(message)
