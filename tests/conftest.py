"""Shared test settings: tiny tensors run fastest on one thread, and tests must not compete with each other.
Every test starts from the same random state, so that its data does not depend on which tests ran before it.
Without a GPU, Triton's interpreter runs the GPU kernels on CPU tensors (set before any kernel is defined).
A module that runs searches on Ray asks for ``local_ray`` (its ``RAY_CPUS`` logical CPUs, default 4)."""

import os

import pytest
import torch

torch.set_num_threads(1)
if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")


@pytest.fixture(autouse=True)
def _same_random_state_for_every_test():
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def local_ray(request):
    """A local Ray for one test module, shut down after it."""
    import ray  # only the modules that run searches pay for it

    ray.init(num_cpus=getattr(request.module, "RAY_CPUS", 4), include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    yield
    ray.shutdown()
