"""Clip shards: WebDataset tar files of training clips, and a streaming reader for PyTorch.

The module moved to :mod:`.format`; it is split into format, writer and reader next.
"""

from la_pose_core.data.shards.format import (
    ClipShardDataset,
    ClipShardWriter,
    ShardWriteResult,
    clip_to_sample,
    collate_clips,
    decode_sample,
    frames_to_tensor,
    list_shards,
    read_shard_metadata,
    write_clips_to_shards,
)

__all__ = [
    "ClipShardDataset",
    "ClipShardWriter",
    "ShardWriteResult",
    "clip_to_sample",
    "collate_clips",
    "decode_sample",
    "frames_to_tensor",
    "list_shards",
    "read_shard_metadata",
    "write_clips_to_shards",
]
