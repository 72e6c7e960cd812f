"""Bag extraction benchmark: ``la-pose bag extract`` frames/s against raw read-and-decode.

    .venv/bin/python benchmarks/bench_extract.py [--repeats 3]

Writes the shared KITTI sample (91 frames, 1241x376 mono8) as an mcap bag with raw images and as
one with PNG CompressedImage, then measures per bag (median of the repeats): reading and
decoding every image (the floor any extraction pays), and the full extraction to 960x448 JPEG
clip shards with ground-truth labels. Prints JSON and a markdown table.
"""

import argparse
import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from la_pose_ros.bags.extract import ExtractOptions, extract_bag
from la_pose_ros.bags.from_sequence import sequence_to_bag
from la_pose_ros.bags.reader import iter_images, open_bag

KITTI_SAMPLE = Path(__file__).resolve().parents[2] / "shared/data/kitti_odometry_00_f0000-0090"


def read_and_decode(bag: Path, topic: str) -> tuple[int, float]:
    started = time.perf_counter()
    with open_bag(bag) as reader:
        count = sum(1 for frame in iter_images(reader, topic) if frame.error is None)
    return count, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="la_pose_bench_extract_"))
    rows = []
    try:
        for compressed in (False, True):
            bag = work / ("png" if compressed else "raw")
            sequence_to_bag(KITTI_SAMPLE, bag, "mcap", compressed=compressed)
            topic = "/camera/image_raw" + ("/compressed" if compressed else "")
            raw_times, extract_times = [], []
            for repeat in range(args.repeats):
                frames, seconds = read_and_decode(bag, topic)
                raw_times.append(seconds)
                out = work / f"shards-{compressed}-{repeat}"
                options = ExtractOptions(out=str(out), pose_topic="/ground_truth/odometry")
                summary = extract_bag(str(bag), options)
                extract_times.append(summary.seconds)
                shutil.rmtree(out)
            raw_fps = frames / statistics.median(raw_times)
            extract_fps = frames / statistics.median(extract_times)
            rows.append(
                {
                    "images": "PNG CompressedImage" if compressed else "raw Image mono8",
                    "frames": frames,
                    "clips": summary.clips,
                    "read_decode_frames_per_s": raw_fps,
                    "extract_frames_per_s": extract_fps,
                    "extract_vs_read": extract_fps / raw_fps,
                }
            )
    finally:
        shutil.rmtree(work)
    report = {
        "benchmark": "bag_extract",
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "results": rows,
    }
    print(json.dumps(report, indent=2))
    print("\n| bag images | read+decode frames/s | extract frames/s | ratio |")
    print("|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['images']} | {row['read_decode_frames_per_s']:.0f} | "
            f"{row['extract_frames_per_s']:.0f} | {row['extract_vs_read']:.2f} |"
        )


if __name__ == "__main__":
    main()
