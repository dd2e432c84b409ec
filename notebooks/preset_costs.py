# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # What every preset costs: parameters, MACs, FLOPs, latency
#
# One table for every registered preset, recorded for the report (`trackkit report` shows it
# as recorded and never profiles anything itself):
#
# - **MACs** in the OSTrack papers' convention: legacy `thop` at batch 1, counting only
#   Conv / Linear / norm layers (not the attention matmuls); it reproduces OSTrack's 29.0 /
#   21.5 GMACs at 256 px without / with candidate elimination.
# - **FLOPs**: every operation (`torch.utils.flop_counter`, math attention), 2 per MAC.
# - **Latency**: model-only (random inputs already in memory, no cropping), batch 1, median
#   of `latency_runs` passes after `latency_warmup`, with the torch threads and device
#   recorded beside it, and only for presets up to `latency_max_gmacs` (a ViT-B/384 forward
#   takes seconds on a laptop CPU).
#
# `trackkit study run studies/preset_costs.yaml` runs it; the committed defaults are CI-sized
# (three small presets, three timed passes).

# %% tags=["parameters"]
presets: list = ["ostrack-cpu", "ostrack-cpu-noce", "simtrack-cpu"]  # names; empty: every registered preset
latency_max_gmacs: float = 1.0  # time only presets up to this many GMACs; 0: time every preset
latency_runs: int = 3  # timed forward passes per preset (cpu profile: 50)
latency_warmup: int = 1  # untimed passes first (cpu profile: 10)
threads: int = 0  # torch intra-op threads; 0: torch's default
device: str = "cpu"  # cpu | cuda
record_dir = None  # set by the study runner; None: record nothing

# %%
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch

from trackkit.families import build_model, get_preset, list_presets, step_inputs
from trackkit.profiling import environment, measure_latency, model_costs
from trackkit.progress import progress
from trackkit.study import record, record_table

if threads:
    torch.set_num_threads(threads)
sns.set_theme(context="notebook", style="whitegrid")

# %% [markdown]
# ## The cost table
#
# Weights are random: no count and no latency depends on their values. A preset whose network
# does not take the one-stream inputs (template, search, template box) gets its error in the
# table instead of numbers.

# %%
rows = []
for name in progress(presets or list_presets(), desc="cost of every preset", unit="preset"):
    preset = get_preset(name)
    model, inputs = build_model(preset, load_pretrained_weights=False).eval(), step_inputs(preset)
    try:  # a family whose network takes other inputs than (template, search, box) is named, not hidden
        row = {"preset": name, **model_costs(model, inputs), "latency_label": "model-only"}
    except Exception as e:
        rows.append({"preset": name, "error": f"{type(e).__name__}: {e}"})
        continue
    if latency_max_gmacs and row["macs_g"] > latency_max_gmacs:
        row["latency_label"] = f"not timed (> {latency_max_gmacs:g} GMACs)"
    else:
        lat = measure_latency(model.to(device), tuple(t.to(device) for t in inputs), latency_warmup, latency_runs)
        row.update(latency_ms=lat["median"], latency_p10_ms=lat["p10"], latency_p90_ms=lat["p90"])
    rows.append(row)
env = environment(device)
cost = pd.DataFrame(rows).assign(threads=env["threads"], device=env["device"])
print(", ".join(f"{k} {v}" for k, v in env.items()))
cost.round(3)

# %% [markdown]
# ## Latency against MACs
#
# On a CPU, latency follows MACs only loosely: attention, token gathering (candidate
# elimination) and memory traffic are not in the paper's MAC count.

# %%
timed = cost.dropna(subset=["latency_ms"])
ax = sns.scatterplot(data=timed, x="macs_g", y="latency_ms")
for _, r in timed.iterrows():
    ax.annotate(r["preset"], (r["macs_g"], r["latency_ms"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
ax.set(xlabel="MACs (G, paper convention)", ylabel=f"latency (ms, batch 1, {env['threads']} thread(s), {device})")
plt.tight_layout()

# %% [markdown]
# ## Record

# %%
record_table(record_dir, "cost", cost)
record(record_dir, n_presets=len(cost), n_timed=len(timed), latency_runs=latency_runs,
       latency_warmup=latency_warmup, latency_max_gmacs=latency_max_gmacs, **env)
