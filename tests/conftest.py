import os

import pytest
import torch


def pytest_configure(config):
    # pytest-xdist runs one worker per core; one thread each avoids oversubscribing the CPU.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
