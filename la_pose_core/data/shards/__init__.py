"""Clip shards: WebDataset tar files of training clips, and a streaming reader for PyTorch.

:mod:`.format`
    the sample format (what a shard sample holds, version 1), its encoding and decoding
:mod:`.writer`
    :class:`ClipShardWriter` and :func:`write_clips_to_shards`
:mod:`.reader`
    :class:`ClipShardDataset` (the webdataset pipeline), :func:`check_shard` (what is wrong
    with a bad shard) and :func:`read_shard_metadata`
"""

from la_pose_core.data.shards.format import (
    CorruptSampleError,
    clip_to_sample,
    collate_clips,
    decode_sample,
    frames_to_tensor,
)
from la_pose_core.data.shards.reader import (
    BadShardError,
    ClipShardDataset,
    check_shard,
    list_shards,
    read_shard_metadata,
)
from la_pose_core.data.shards.writer import (
    ClipShardWriter,
    ShardWriteResult,
    write_clips_to_shards,
)

__all__ = [
    "BadShardError",
    "ClipShardDataset",
    "ClipShardWriter",
    "CorruptSampleError",
    "ShardWriteResult",
    "check_shard",
    "clip_to_sample",
    "collate_clips",
    "decode_sample",
    "frames_to_tensor",
    "list_shards",
    "read_shard_metadata",
    "write_clips_to_shards",
]
