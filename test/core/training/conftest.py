"""Fixtures of the training tests: one set of tiny synthetic shards and a tokenizer checkpoint."""

import pytest
import torch

from la_pose_core.model.checkpoint import save_checkpoint
from la_pose_core.model.tokenizer import Tokenizer
from test.core.training.helpers import TINY, write_tiny_shards


@pytest.fixture(scope="session")
def tiny_shards(tmp_path_factory):
    """4 shards of 4 posed 6-frame clips (2 synthetic drives, 64x32, with intrinsics)."""
    out = tmp_path_factory.mktemp("tiny_shards")
    paths = write_tiny_shards(out)
    assert len(paths) == 4
    return out


@pytest.fixture(scope="session")
def random_tokenizer(tmp_path_factory):
    """A checkpoint holding an untrained tiny tokenizer (enough to pretrain against)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tokenizer") / "tokenizer.pt"
    save_checkpoint(path, Tokenizer(TINY), TINY)
    return path


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread: on a shared 2-core machine, two spinning OpenMP threads per test
    process cost more CPU than they save. Restored after each test."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
