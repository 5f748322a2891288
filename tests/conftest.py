"""Shared test settings: tiny tensors run fastest on one thread, and tests must not compete with each other."""

import torch

torch.set_num_threads(1)
