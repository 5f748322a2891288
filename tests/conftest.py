"""Shared test settings: tiny tensors run fastest on one thread, and tests must not compete with each other.
Every test starts from the same random state, so that its data does not depend on which tests ran before it.
Without a GPU, Triton's interpreter runs the GPU kernels on CPU tensors (set before any kernel is defined)."""

import os

import pytest
import torch

torch.set_num_threads(1)
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture(autouse=True)
def _same_random_state_for_every_test():
    torch.manual_seed(0)
