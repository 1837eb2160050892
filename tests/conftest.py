import os

import pytest
import torch
from threadpoolctl import threadpool_limits


def pytest_configure(config):
    # pytest-xdist runs one worker per core; one thread each avoids oversubscribing the CPU.
    # BLAS too: two-threaded OpenBLAS on a busy 2-core machine makes a 500 x 500 eigh about 50x slower.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)
        threadpool_limits(limits=1, user_api="blas")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
