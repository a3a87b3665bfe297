"""Shared set-up for the hidden suites.

`import torch` (3-5 s) and the first optimizer a process builds (~4 s: it imports
torch._dynamo) are paid here, once, at collection time: never inside a test's own
time limit, where they would look like a slow learner's solution.
"""

import torch

torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
