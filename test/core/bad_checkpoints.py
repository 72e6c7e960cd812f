"""Files that are not LA-Pose checkpoints, each with the reason a loader must give for it."""

from pathlib import Path

import torch


class _NotPlainData:
    pass


def write_bad_checkpoints(folder: Path, good: Path) -> dict[Path, str]:
    """Write one file of each kind of bad checkpoint into ``folder`` (``good``: a real
    checkpoint to truncate). Returns path -> the words the one-line error must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    data = good.read_bytes()
    files = {
        "empty.pt": (b"", "the file is empty"),
        "text.pt": (b"not a checkpoint\n", "not a file written by torch.save"),
        "random.pt": (bytes(range(256)) * 20, "not a file written by torch.save"),
        "truncated.pt": (data[: len(data) // 2], "truncated"),
    }
    reasons = {}
    for name, (content, reason) in files.items():
        (folder / name).write_bytes(content)
        reasons[folder / name] = reason
    torch.save([1, 2, 3], folder / "list.pt")
    reasons[folder / "list.pt"] = "it holds a list"
    torch.save({"weights": torch.zeros(2)}, folder / "other_format.pt")
    reasons[folder / "other_format.pt"] = "it has no LA-Pose format marker"
    torch.save({"object": _NotPlainData()}, folder / "code.pt")
    reasons[folder / "code.pt"] = "it holds objects other than tensors and plain data"
    return reasons
