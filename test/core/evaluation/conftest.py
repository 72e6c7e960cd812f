"""Fixtures of the evaluation tests: an untrained tiny pose-estimator checkpoint."""

import pytest
import torch

from la_pose_core.model.checkpoint import save_checkpoint
from la_pose_core.model.config import get_config
from la_pose_core.model.lapose import LAPosePosttrainer


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    config = get_config("tiny")
    path = tmp_path_factory.mktemp("evaluation") / "posttrainer.pt"
    save_checkpoint(path, LAPosePosttrainer(config), config)
    return path


@pytest.fixture(autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
