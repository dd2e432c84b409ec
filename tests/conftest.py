"""Suite-wide settings.

pytest runs with xdist (2 workers on 2 cores): one torch/OpenMP thread per worker, since
oversubscribed OpenMP threads spin against each other and tiny models then run 50-200x slower.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
