"""Suite-wide settings shared by every test module."""

import pytest
import torch


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """One torch thread for the whole suite.

    Tiny matmuls on 2 busy cores run 10-70x slower with 2 OpenMP threads than with 1, and the Ray test
    compares executors at the same thread count (the 1-CPU Ray tasks get one thread; a float reduction
    split over more threads may round differently).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
