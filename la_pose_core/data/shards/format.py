"""The clip shard sample format: what a shard sample holds, and its encoding and decoding.

Writing shards: :mod:`.writer`; reading them (the streaming PyTorch pipeline): :mod:`.reader`.

Shard format, version 1
=======================

A shard is a POSIX tar file named ``{prefix}-{NNNNNN}.tar`` (default prefix ``clips``). It holds
one *sample* per clip: tar members named ``{key}.{field}`` with the clip's ``key`` (no dots,
no slashes; unique within a data set, e.g. ``kitti_00-00000042``). The members of a sample are
consecutive in the tar. Fields:

``frame_00.png`` ... ``frame_{T-1}.png`` (or ``.jpg``)
    The ``T`` frames in clip order (already time-reversed for reversed clips), index
    zero-padded to at least 2 digits. PNG (lossless, default) or JPEG; 8-bit greyscale or
    8-bit colour (channels in the files' usual order, i.e. decoded as RGB).
``meta.json``
    UTF-8 JSON object:

    ``format``           ``"la_pose.clip"``
    ``version``          ``1``
    ``key``              the sample key
    ``source``           name of the sequence (or bag) the clip came from
    ``num_frames``       ``T``
    ``image_format``     ``"png"`` or ``"jpeg"``
    ``image_size``       ``[W, H]`` pixels (every frame)
    ``channels``         1 (greyscale) or 3 (RGB)
    ``fps``              the drawn clip frame rate (Hz)
    ``stamps``           ``T`` playback times (s) from the first frame, increasing, first 0
    ``source_stamps``    ``T`` stamps of the frames in the source (s; decreasing if reversed)
    ``indices``          ``T`` frame indices in the source (or -1 where meaningless)
    ``reversed``         time-reversal augmentation applied (bool)
    ``intrinsics``       ``{"fx", "fy", "cx", "cy"}`` in pixels of ``image_size``, or null
    ``world_from_cam``   ``T`` row-major 4x4 camera-to-world poses (optical frame x right,
                         y down, z forward; metres), or null for unlabelled clips
    ``label_noise``      ``world_from_cam`` was corrupted on purpose (bool; injected label
                         noise, ``la_pose_core.data.label_noise``); a missing key (older
                         shards) reads as false

    Readers ignore unknown keys; a change that breaks readers bumps ``version``. Labels are not
    stored: the reader gives the adjacent relative poses of ``world_from_cam``, and the
    training targets are built from those in one place
    (:class:`la_pose_core.model.targets.PoseTargets`), so they cannot disagree with the poses.
    Python's JSON writes floats with round-trip precision.

Decoded samples
===============

:func:`decode_sample` turns a raw sample into a dict (what :class:`~.reader.ClipShardDataset`
yields):

``frames``                  ``(T, 3, H, W)`` float32 in [0, 1] at the target size. Crop policy
                            (the model's, ``la_pose_core.inference.preprocess``): centre-crop
                            the largest region with the target aspect ratio, then resize
                            (bilinear, antialiased); greyscale is replicated to 3 channels.
``dt``                      ``(T-1,)`` float32 seconds between frames
``stamps``                  ``(T,)`` float64 playback times
``fps``                     ``()`` float32 drawn rate
``reversed``                ``()`` bool
``label_noise``             ``()`` bool: the poses were deliberately corrupted (meta key
                            ``label_noise``; False when absent). Known outliers, to measure a
                            loss filter; batches get a ``(B,)`` bool mask.
``fov``                     ``()`` float32 vertical FoV (rad) of the model input after the
                            crop, ``2 atan(crop_H / (2 fy))``; only with intrinsics, and not
                            with ``with_labels=False`` (a label: clips with and without
                            intrinsics then batch together, as label-free stages mix them)
with poses (labels):
``relative_poses``          ``(T-1, 4, 4)`` float64 ``cam_t_from_cam_{t+1}`` (metres); the
                            pose-head targets (normalised translations, quaternions, log
                            scale) are built from these and ``fov`` by
                            :meth:`la_pose_core.model.targets.PoseTargets.from_relative_poses`
and ``key``, ``source`` (str). Batches stack every tensor on a new first axis and list the
strings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch

from la_pose_core.data.clips import Clip
from la_pose_core.geometry import adjacent_relative_poses, center_crop_box, input_vertical_fov

FORMAT_NAME = "la_pose.clip"
FORMAT_VERSION = 1
IMAGE_FORMATS = {"png": ".png", "jpeg": ".jpg"}
_FRAME_FIELD = re.compile(r"^frame_(\d+)\.(png|jpg|jpeg)$")
_BAD_KEY_CHARACTERS = re.compile(r"[^A-Za-z0-9_\-]")


class CorruptSampleError(ValueError):
    """A sample whose stored bytes do not decode (a damaged shard), as opposed to a sample
    that decodes but does not fit the reader's request (no poses with ``with_labels=True``)."""


def sanitize_key(text: str) -> str:
    """A sample key from any text: characters outside ``[A-Za-z0-9_-]`` become ``_``."""
    return _BAD_KEY_CHARACTERS.sub("_", text) or "clip"


def encode_image_bytes(
    image: np.ndarray, image_format: str = "png", jpeg_quality: int = 95
) -> bytes:
    """uint8 ``(H, W)`` or ``(H, W, 3)`` RGB image -> PNG or JPEG bytes."""
    if image_format not in IMAGE_FORMATS:
        raise ValueError(f"image format must be one of {sorted(IMAGE_FORMATS)}")
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {image.dtype}")
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if image_format == "jpeg" else []
    ok, encoded = cv2.imencode(IMAGE_FORMATS[image_format], image, params)
    if not ok:
        raise ValueError("image encoding failed")
    return encoded.tobytes()


def decode_image_bytes(data: bytes) -> np.ndarray:
    """PNG/JPEG bytes -> uint8 ``(H, W)`` greyscale or ``(H, W, 3)`` RGB."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise CorruptSampleError("undecodable image in shard")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2RGB)
    if image.ndim == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return image


def clip_metadata(
    clip: Clip, key: str, image_format: str = "png", label_noise: bool = False
) -> dict[str, Any]:
    """The ``meta.json`` object of a clip (module docstring).

    ``label_noise`` flags a clip whose poses were corrupted on purpose (the caller corrupts
    them, :func:`la_pose_core.data.label_noise.corrupt_clip_labels`).
    """
    if clip.frames is None:
        raise ValueError("the clip has no frames (sample it with load_images=True)")
    frames = clip.frames
    intrinsics = None
    if clip.intrinsics is not None:
        intrinsics = {
            name: float(getattr(clip.intrinsics, name)) for name in ("fx", "fy", "cx", "cy")
        }
    return {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "key": key,
        "source": clip.source,
        "num_frames": len(clip),
        "image_format": image_format,
        "image_size": [int(frames.shape[2]), int(frames.shape[1])],
        "channels": 1 if frames.ndim == 3 else int(frames.shape[3]),
        "fps": float(clip.fps),
        "stamps": [float(v) for v in clip.stamps],
        "source_stamps": [float(v) for v in clip.source_stamps],
        "indices": [int(v) for v in clip.indices],
        "reversed": bool(clip.reversed),
        "intrinsics": intrinsics,
        "world_from_cam": None if clip.world_from_cam is None else clip.world_from_cam.tolist(),
        "label_noise": bool(label_noise),
    }


def clip_to_sample(
    clip: Clip,
    key: str,
    image_format: str = "png",
    jpeg_quality: int = 95,
    label_noise: bool = False,
) -> dict[str, Any]:
    """A WebDataset sample dict (``__key__`` and encoded fields) of one clip."""
    if "." in key or "/" in key:
        raise ValueError(f"sample key {key!r} must not contain '.' or '/'")
    meta = clip_metadata(clip, key, image_format, label_noise)
    width = max(2, len(str(len(clip) - 1)))
    extension = IMAGE_FORMATS[image_format]
    sample: dict[str, Any] = {"__key__": key, "meta.json": json.dumps(meta).encode("utf-8")}
    for index, frame in enumerate(clip.frames):
        sample[f"frame_{index:0{width}d}{extension}"] = encode_image_bytes(
            frame, image_format, jpeg_quality
        )
    return sample


def frames_to_tensor(images: Sequence[np.ndarray], height: int, width: int) -> torch.Tensor:
    """uint8 frames of one size -> float ``(T, 3, height, width)`` in [0, 1].

    The inference preprocessing (``la_pose_core.inference.preprocess.preprocess_image``:
    centre crop to the target aspect ratio, bilinear antialiased resize, greyscale replicated),
    done for the whole clip at once: one crop stack, one resize, one output allocation.
    """
    import torch.nn.functional as F

    shapes = {image.shape for image in images}
    if len(shapes) != 1:
        raise ValueError(f"frames of different shapes in one clip: {sorted(shapes)}")
    image_height, image_width = images[0].shape[:2]
    top, left, crop_height, crop_width = center_crop_box(image_height, image_width, height, width)
    crops = np.stack([image[top : top + crop_height, left : left + crop_width] for image in images])
    if crops.ndim == 3:
        crops = crops[..., None]  # (T, h, w, 1)
    pixels = torch.from_numpy(crops).permute(0, 3, 1, 2)  # (T, C, h, w) uint8 view
    if (crop_height, crop_width) != (height, width):
        pixels = F.interpolate(
            pixels.float().div_(255.0), size=(height, width), mode="bilinear", antialias=True
        )
    out = torch.empty((len(images), 3, height, width), dtype=torch.float32)
    out.copy_(pixels.expand(-1, 3, -1, -1))
    if pixels.dtype == torch.uint8:
        out.div_(255.0)
    return out


def decode_sample(
    sample: dict[str, Any],
    image_size: tuple[int, int] | None = None,
    with_labels: bool | None = None,
    with_frames: bool = True,
) -> dict[str, Any]:
    """A raw WebDataset sample (bytes per field) -> the training dict (module docstring).

    Args:
        sample: ``{"__key__", "meta.json", "frame_00.png", ...}``.
        image_size: target ``(W, H)``; None keeps the stored size.
        with_labels: True requires poses (``ValueError`` otherwise), False drops them and the
            FoV, None includes them when present.
        with_frames: False leaves the images undecoded (no ``frames``): for a head trained on
            cached latent actions (:mod:`la_pose_core.training.latent_cache`).
    """
    meta = _read_meta(sample)
    frame_fields = sorted(
        ((int(m.group(1)), name) for name in sample if (m := _FRAME_FIELD.match(name))),
    )
    if len(frame_fields) != meta["num_frames"]:
        raise CorruptSampleError(
            f"{meta['key']}: {len(frame_fields)} frames stored, meta says {meta['num_frames']}"
        )
    stored_width, stored_height = meta["image_size"]
    width, height = image_size if image_size is not None else (stored_width, stored_height)
    stamps = np.asarray(meta["stamps"], np.float64)
    out: dict[str, Any] = {"key": meta["key"], "source": meta["source"]}
    if with_frames:
        images = [decode_image_bytes(sample[name]) for _, name in frame_fields]
        out["frames"] = frames_to_tensor(images, height, width)
    out |= {
        "dt": torch.as_tensor(np.diff(stamps), dtype=torch.float32),
        "stamps": torch.as_tensor(stamps),
        "fps": torch.tensor(float(meta["fps"]), dtype=torch.float32),
        "reversed": torch.tensor(bool(meta["reversed"])),
        "label_noise": torch.tensor(bool(meta.get("label_noise", False))),
    }
    if meta.get("intrinsics") is not None and with_labels is not False:
        fov = input_vertical_fov(
            meta["intrinsics"]["fy"], stored_height, stored_width, height, width
        )
        out["fov"] = torch.tensor(fov, dtype=torch.float32)
    poses = meta.get("world_from_cam")
    if with_labels and poses is None:
        raise ValueError(f"{meta['key']}: no poses in this clip (with_labels=True)")
    if poses is not None and with_labels is not False:
        out["relative_poses"] = torch.as_tensor(
            adjacent_relative_poses(np.asarray(poses, np.float64))
        )  # (T-1, 4, 4)
    return out


def _read_meta(sample: dict[str, Any]) -> dict[str, Any]:
    """The sample's ``meta.json``; :class:`CorruptSampleError` when it is missing, not JSON,
    or not a clip record this reader knows."""
    key = sample.get("__key__")
    if "meta.json" not in sample:
        raise CorruptSampleError(f"{key}: no meta.json")
    try:
        meta = json.loads(sample["meta.json"])
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CorruptSampleError(f"{key}: meta.json is not JSON ({error})") from None
    try:
        known = meta.get("format") == FORMAT_NAME and int(meta.get("version", 0)) <= FORMAT_VERSION
    except (AttributeError, TypeError, ValueError):  # not an object, or a bad version
        known = False
    if not known:
        raise CorruptSampleError(f"{key}: not a version <= {FORMAT_VERSION} {FORMAT_NAME} sample")
    return meta


def collate_clips(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Stack decoded samples into a batch: tensors on a new axis 0, strings into lists.

    Every sample must have the same fields (do not mix labelled and unlabelled clips in one
    batch; use ``with_labels=False`` to drop labels).
    """
    if not samples:
        raise ValueError("empty batch")
    names = set(samples[0])
    for sample in samples[1:]:
        if set(sample) != names:
            raise ValueError(
                f"samples with different fields in one batch: {sorted(names ^ set(sample))}"
            )
    batch: dict[str, Any] = {}
    for name in samples[0]:
        values = [sample[name] for sample in samples]
        batch[name] = torch.stack(values) if isinstance(values[0], torch.Tensor) else values
    return batch
