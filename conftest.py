"""Root pytest configuration: applies to tests, module doctests, README and docs."""

import torch

# One intra-op thread: the tests' models are tiny, extra threads only contend
# on a shared 2-core machine, and the doctests' printed numbers were measured
# this way (thread count can change float rounding).
torch.set_num_threads(1)

# docs/: the pages' code blocks run as doctests (*.rst); the Sphinx
# configuration and what the build generates are not collected
collect_ignore = ["docs/conf.py"]
collect_ignore_glob = ["docs/_build/*", "docs/generated/*", "docs/auto_examples/*"]
