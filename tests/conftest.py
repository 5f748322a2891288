"""Shared test settings: tiny tensors run fastest on one thread, and tests must not compete with each other.
Every test starts from the same random state, so that its data does not depend on which tests ran before it."""

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _same_random_state_for_every_test():
    torch.manual_seed(0)
