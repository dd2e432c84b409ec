# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# Toy notebook for the study runner tests: records a metric and a per-sequence table,
# and can fail on purpose (cell error, dead kernel, slow cell).

# %% tags=["parameters"]
x = 1  # an int parameter
y = 0.5  # a float parameter
seed = 0  # random seed
mode = "ok"  # ok | raise | die | sleep
sleep_s = 0.0  # seconds to sleep in the work cell
record_dir = None  # injected by the runner

# %%
import os
import time

import numpy as np
import pandas as pd

from trackkit.study import record, record_table

# %%
time.sleep(sleep_s)
if mode == "raise":
    raise ValueError(f"toy failure x={x}")
if mode == "die":
    os._exit(1)  # the kernel dies: papermill raises DeadKernelError, not PapermillExecutionError

# %%
rng = np.random.default_rng(seed)
per_seq = pd.DataFrame({"sequence": [f"s{i}" for i in range(5)], "score": x * y + rng.random(5) / 10})
record(record_dir, score=float(per_seq.score.mean()), x_times_y=x * y, pid=os.getpid())
record_table(record_dir, "sequences", per_seq)
