"""Root pytest configuration: applies to tests, module doctests and README."""

import torch

# One intra-op thread: the tests' models are tiny, extra threads only contend
# on a shared 2-core machine, and the doctests' printed numbers were measured
# this way (thread count can change float rounding).
torch.set_num_threads(1)
