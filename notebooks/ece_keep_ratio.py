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
# # Early candidate elimination: keep ratio, CE locations, speed and accuracy
#
# OSTrack (Ye et al., ECCV 2022) runs template and search tokens through one ViT. In a
# block with a **candidate elimination (CE)** module, the attention row of the template's
# centre token $\phi$ scores every search token (a *candidate*), averaged over the $M$ heads
# (Eq. 6 of the paper):
#
# $$\mathbf{h}_z^i = \mathrm{Softmax}\!\left(\frac{\mathbf{q}_i\,[\mathbf{K}_z;\mathbf{K}_x]^\top}{\sqrt{d}}\right)\mathbf{V}
#   = [\mathbf{w}_z^i;\ \mathbf{w}_x^i]\,\mathbf{V},\qquad
#   \bar{\mathbf{w}}_x^{\phi} = \frac{1}{M}\sum_{m=1}^{M}\mathbf{w}_x^{\phi}(m),\qquad
#   \phi = \left\lfloor \tfrac{W_z}{2}\right\rfloor + W_z\left\lfloor \tfrac{H_z}{2}\right\rfloor .$$
#
# The block keeps the $k = \lceil \rho\, n \rceil$ candidates with the largest
# $\bar{\mathbf{w}}_x^{\phi}$ ($\rho$: the **keep ratio**, $n$: search tokens entering the
# block) and drops the rest; the head gets the kept tokens back at their positions, zeros
# elsewhere. OSTrack-256 has CE at blocks 4, 7, 10 (1-based) with $\rho = 0.7$: 256 → 180 →
# 126 → 89 search tokens. Its **Table 3** reports, with vs without CE: −26% MACs, +13% FPS
# at 256 px and +40% at 384 px, and equal or better accuracy.
#
# One run of this notebook is **one grid point**: a keep ratio, a set of CE blocks and a
# search size. It measures that variant **and the same network without CE side by side**:
# AO / SR with bootstrap confidence intervals (and the paired AO difference), MACs in the
# paper's convention, parameters and latency. `trackkit study run studies/ece_keep_ratio.yaml`
# runs the whole grid (Table 3 plus a keep-ratio sweep 1.0 … 0.5 and CE-location sets) and
# `trackkit report` puts every point in one table and one speed-accuracy figure.
#
# The committed defaults are CI-sized (seconds, meaningless numbers). For a real run use
# the study's `cpu` profile (`make main`: the 13-point grid and the report in about 15 minutes
# on a busy 2-core machine) or set the training budget below by hand.

# %% tags=["parameters"]
preset: str = "ostrack-cpu"  # base model preset; the gpu profile uses "ostrack-b256" (ViT-B)
search_size: int = 128  # search crop (px); the template is half of it, as in OSTrack-256 / -384
search_factor: float = 0.0  # search area factor; 0: the preset's at its own size, 5.0 at any other (OSTrack-384)
keep_ratio: float = 0.7  # CE keep ratio rho; 1.0 is the network without CE (Table 3's "w/o")
ce_loc: list = [1, 2]  # 0-based blocks holding a CE module (OSTrack-B: [3, 6, 9] of 12)
ce_mode: str = "inference"  # "inference": one network trained without CE, CE applied at test time only;
#                             "trained": each variant trained with its own CE (the paper's protocol)
train_epochs: int = 1  # training budget (cpu profile: 10); CE schedule and lr drop scale with it
samples_per_epoch: int = 16  # training pairs per epoch (cpu profile: 1500)
batch_size: int = 8  # training batch
lr: float = 0.0  # learning rate; 0: the preset's
n_train: int = 4  # procedural training sequences
train_frames: int = 30  # frames per training sequence
synth_preset: str = "easy"  # procedural benchmark difficulty: easy | default | hard | clean
n_test: int = 2  # held-out procedural test sequences (the CI resamples these)
n_frames: int = 10  # frames per test sequence
track_batch: int = 16  # sequences tracked per forward pass (bit-identical to one at a time)
latency_runs: int = 3  # timed forward passes per network (interleaved variant / reference)
latency_warmup: int = 1  # untimed passes first
threads: int = 0  # torch intra-op threads; 0: torch's default (the study sets 1 per worker)
device: str = "auto"  # auto | cpu | cuda
pretrained: str = ""  # local MAE / timm ViT checkpoint for the backbone; empty: random init
init: str = "scratch"  # "scratch": random init (or `pretrained`); "mae": the procedural MAE pretraining of
#                        the preset's ViT (trackkit.pretrain), built once in cache_dir and shared by every run
pretrain_epochs: int = 1  # MAE epochs when init is mae (cpu profile: 6, the measured default of trackkit pretrain)
pretrain_samples: int = 16  # crops per MAE epoch (cpu profile: 6144)
pretrain_batch: int = 16  # MAE batch (cpu profile: 128)
pretrain_loaders: int = 0  # crop-rendering processes (cpu profile: 1)
n_boot: int = 1000  # bootstrap replicates of the confidence intervals
seed: int = 0  # weights, training pairs and procedural data
cache_dir: str = "../runs/cache"  # trained weights and tracking results shared by the study's runs
record_dir = None  # set by the study runner; None: record nothing

# %%
import time
from dataclasses import asdict

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
import torch
from IPython.display import Markdown, display

from trackkit.errors import ConfigError
from trackkit.eval import evaluate, evaluate_all_protocols
from trackkit.eval.paired import paired_difference
from trackkit.families import build_model, build_tracker, get_preset, load_model
from trackkit.pretrain import PretrainConfig
from trackkit.profiling import compare_costs, example_inputs
from trackkit.report.paper_numbers import paper_table
from trackkit.study import record, record_table
from trackkit.study.probes import ce_presets, ce_target_retention, dropped_tokens_figure
from trackkit.study.shared import SyntheticData, cached_frames, cached_pretraining, cached_tracking, cached_training

if ce_mode not in ("inference", "trained"):
    raise ConfigError(f"ce_mode={ce_mode!r}: use 'inference' or 'trained'")
if threads:
    torch.set_num_threads(threads)
dev = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
if init not in ("scratch", "mae") or (init == "mae" and pretrained):
    raise ConfigError(f"init={init!r}: use 'scratch' (optionally with `pretrained`) or 'mae' (without `pretrained`)")
if init == "mae":  # one pretraining (seed 0) for every seed, as one downloaded MAE checkpoint would be
    mae_cfg = PretrainConfig(epochs=pretrain_epochs, samples_per_epoch=pretrain_samples, batch_size=pretrain_batch,
                             num_workers=pretrain_loaders)
    pretrained = str(cached_pretraining(cache_dir, get_preset(preset), mae_cfg, 0, device=dev))
sns.set_theme(context="notebook", style="whitegrid")
t_start = time.perf_counter()

# %% [markdown]
# ## The variant and its reference
#
# Both come from the base preset at this search size. The **reference** has no CE module
# (Table 3's "w/o"); the **variant** has CE at `ce_loc` with ratio `keep_ratio` (a ratio of
# 1.0 *is* the reference: $\lceil 1.0\,n\rceil = n$ removes nothing, so no module is built).
# The training budget scales OSTrack's 300-epoch schedule: CE keep-rate warm-up from epoch
# 20 over 80 epochs, lr ×0.1 at epoch 240.

# %%
base = get_preset(preset)
reference, variant = ce_presets(base, search_size=search_size, keep_ratio=keep_ratio, ce_loc=ce_loc,
                                search_factor=search_factor, train_epochs=train_epochs, lr=lr, pretrained=pretrained,
                                samples_per_epoch=samples_per_epoch, batch_size=batch_size)
with_ce = variant is not reference
tokens = variant.model.ce_token_counts()
pd.DataFrame({
    "": ["reference (no CE)", "variant"],
    "template / search px": [f"{variant.model.template_size} / {search_size}"] * 2,
    "search factor": [variant.track.search_factor] * 2,
    "CE blocks": ["–", ", ".join(map(str, variant.model.ce_loc)) or "–"],
    "keep ratio": ["–", keep_ratio if with_ce else "–"],
    "search tokens per CE stage": [str(reference.model.feat_size ** 2), " → ".join(map(str, tokens))],
})

# %% [markdown]
# ## Training (cached)
#
# With `ce_mode="inference"` every grid point of a seed and search size uses **one**
# network trained without CE, so the only difference between grid points is what CE does at
# test time. With `ce_mode="trained"` each variant is trained with its keep-rate schedule
# (OSTrack: $\rho_e = \rho + (1-\rho)\,\tfrac{1}{2}\big(\cos(\pi\,\tfrac{e-s}{w})+1\big)$ between
# epochs $s$ and $s+w$), as the paper trains each row of Table 3. Weights are cached under
# `cache_dir` by their settings; parallel runs wait on a file lock instead of training twice.

# %%
data = SyntheticData(synth_preset, n_train, train_frames)
train_preset = reference if ce_mode == "inference" else variant
weights = cached_training(cache_dir, train_preset, data=data, seed=seed, device=dev)
ref_weights = weights if train_preset is reference else \
    cached_training(cache_dir, reference, data=data, seed=seed, device=dev)
log = pd.DataFrame([{"epoch": r["epoch"], "keep_rate": r.get("keep_rate"), **r["loss"]} for r in weights.meta["log"]])
print(f"weights {weights.key} ({'cached' if weights.cached else 'trained now'}, "
      f"{weights.meta['wall_s']:.0f} s of training)")
log.tail(3)

# %% [markdown]
# ## Tracking the held-out test split
#
# The test split is procedural (`split="test"`: random streams no training sequence uses),
# tracked `track_batch` sequences per forward pass. Results are cached like the weights (the
# reference's are shared by every run of this seed and size). The reference's results are
# also scored under **every** evaluation protocol and recorded as a table for the report.

# %%
test = cached_frames(cache_dir, SyntheticData(synth_preset, n_test, n_frames, split="test"), seed)
test_id = {"synth_preset": synth_preset, "n_test": n_test, "n_frames": n_frames, "seed": seed, "split": "test"}


def track(p, w, name):
    tracker = build_tracker(p, weights=w.path, device=dev, name=name)
    settings = {"weights": w.key, "model": asdict(p.model), "track": asdict(p.track), "test": test_id,
                "device": torch.device(dev).type}
    folder, _ = cached_tracking(cache_dir, tracker, test, settings=settings, batch_size=track_batch)
    return evaluate(test, folder, "got10k"), folder


(res_v, dir_v), (res_r, dir_r) = track(variant, weights, "variant"), track(reference, ref_weights, "reference")
res = {"variant": res_v, "reference": res_r}
protocols = evaluate_all_protocols(test, dir_r).reset_index()
protocols.round(4)

# %% [markdown]
# ## Accuracy with confidence intervals
#
# GOT-10k's AO is the mean IoU over all frames of all sequences (SR$_{t}$: the fraction of
# frames with IoU > $t$). Intervals are percentile bootstraps over **sequences** (the unit
# that is sampled from the procedural distribution); the difference variant − reference is
# bootstrapped **paired** (the same resampled sequences for both), so it is much tighter
# than either interval.

# %%
metrics = ("ao", "sr50", "sr75")
ci = {k: r.bootstrap(n_boot=n_boot, metrics=metrics) for k, r in res.items()}
paired = paired_difference(res["variant"], res["reference"], metrics, n_boot=n_boot, seed=0)
pct = lambda c, m: f"{100 * c.loc[m, 'estimate']:.1f} [{100 * c.loc[m, 'lo']:.1f}, {100 * c.loc[m, 'hi']:.1f}]"
pd.DataFrame({**{f"{k} (%) [95% CI]": [pct(c, m) for m in metrics] for k, c in ci.items()},
              "variant − reference (pts) [95% CI]": [
                  f"{100 * paired.loc[m, 'estimate']:+.2f} [{100 * paired.loc[m, 'lo']:+.2f}, "
                  f"{100 * paired.loc[m, 'hi']:+.2f}]" for m in metrics]}, index=list(metrics))

# %% [markdown]
# ## Cost: MACs, parameters, latency (side by side)
#
# **MACs** follow the paper's convention (legacy `thop` at batch 1: only Conv / Linear /
# norm layers count, not the attention matmuls), which reproduces OSTrack's 29.0 / 21.5 G
# at 256 px; **FLOPs** count everything (`torch.utils.flop_counter`). **Latency** is
# model-only at batch 1 (random inputs, no cropping), and the two networks are timed
# **interleaved** (one pass of each per round, alternating which goes first), so the ratio
# survives a busy machine better than either number; at keep ratio 1.0 both are the same
# network and the ratio shows the measurement's own noise. CE has no parameters: both networks have the same count.

# %%
nets = {"variant": build_model(variant, load_pretrained_weights=False).eval(),
        "reference": build_model(reference, load_pretrained_weights=False).eval()}
inputs = {"variant": example_inputs(variant), "reference": example_inputs(reference)}
cost = compare_costs(nets, inputs, device=dev, warmup=latency_warmup, runs=latency_runs)
cost_df = pd.DataFrame(cost).T[["params_m", "macs_g", "flops_g", "latency_ms", "fps"]]
cost_df.loc["variant / reference"] = cost_df.loc["variant"] / cost_df.loc["reference"]
print(f"{torch.get_num_threads()} torch thread(s) on {dev}, {latency_runs} interleaved runs each")
cost_df.round(3)

# %% [markdown]
# ## Does CE keep the target?
#
# CE keeps the search tokens that the template's centre token attends to most,
# $\bar a_j = \frac{1}{H}\sum_h \mathrm{softmax}\big(q_c k^\top / \sqrt{d}\big)_j$. That is a good
# criterion only if this attention already points at the target, which OSTrack's MAE-pretrained
# backbone gives it from the start. We count, over held-out pairs cropped as the tracker crops them
# (template at frame 0; search around the previous frame's box), how often the search token under
# the target's centre survives every CE layer, beside what keeping tokens at random would give.
# Below: the first test frame's search crop, with the tokens removed at each CE block greyed
# out (the variant with the weights it tracks with); the target box is green.

# %%
retention = {"target_kept": float("nan"), "chance_kept": float("nan")}
if with_ce:
    probe = build_model(variant, load_pretrained_weights=False).eval()
    probe.load_state_dict(load_model(weights.path)[0].state_dict())
    retention = ce_target_retention(probe, variant.track, test, device=dev)
    print(f"{retention['pairs']} pairs: the target-centre token survives CE in {retention['target_kept']:.0f}% of "
          f"them (keeping {retention['kept_tokens']} of {retention['tokens']} tokens at random: "
          f"{retention['chance_kept']:.0f}%)")
    dropped_tokens_figure(probe, variant.track, test[0], ce_blocks=variant.model.ce_loc, device=dev)
else:
    print("no CE in this variant")

# %% [markdown]
# ## Record
#
# Scalars go to `metrics.json`; the per-sequence table lets the report bootstrap across
# sequences (AO etc. in %, `d_ao` = variant − reference for the same sequence); the
# reference's scores under every protocol go to the `protocols` table.

# %%
ps = {k: r.per_sequence[list(metrics)] * 100 for k, r in res.items()}
per_seq = ps["variant"].join(ps["reference"].add_suffix("_ref")).reset_index()
per_seq["d_ao"] = per_seq["ao"] - per_seq["ao_ref"]
v, r = cost["variant"], cost["reference"]
summary = record(
    record_dir,
    ao=100 * res["variant"].summary["ao"], sr50=100 * res["variant"].summary["sr50"],
    sr75=100 * res["variant"].summary["sr75"],
    ao_lo=100 * ci["variant"].loc["ao", "lo"], ao_hi=100 * ci["variant"].loc["ao", "hi"],
    ao_ref=100 * res["reference"].summary["ao"], sr50_ref=100 * res["reference"].summary["sr50"],
    d_ao=100 * paired.loc["ao", "estimate"], d_ao_lo=100 * paired.loc["ao", "lo"],
    d_ao_hi=100 * paired.loc["ao", "hi"],
    macs_g=v["macs_g"], macs_ref_g=r["macs_g"], macs_change_pct=100 * (v["macs_g"] / r["macs_g"] - 1),
    flops_g=v["flops_g"], params_m=v["params_m"],
    latency_ms=v["latency_ms"], latency_ref_ms=r["latency_ms"], speedup=r["latency_ms"] / v["latency_ms"],
    fps=v["fps"], fps_ref=r["fps"], search_tokens_out=tokens[-1],
    target_kept=retention["target_kept"], chance_kept=retention["chance_kept"],
    threads=torch.get_num_threads(), device=dev, weights_key=weights.key, weights_cached=weights.cached,
    train_wall_s=weights.meta["wall_s"], n_sequences=len(test), wall_s=time.perf_counter() - t_start,
)
record_table(record_dir, "sequences", per_seq)
record_table(record_dir, "protocols", protocols)
per_seq.round(2).head()

# %% [markdown]
# ## Beside the paper's Table 3
#
# Our row stands for the paper's row of the same role: our base size for 256 px, 1.5× for
# 384 px; keep 1.0 for "w/o", CE for "w/". Relative changes (variant vs the same network
# without CE) are the comparable quantities; absolute numbers are not (see below).

# %%
pt = paper_table("ostrack_table3")
paper = pt.frame()
paper_size = 256 if search_size == base.model.search_size else 384
base_row = paper[(paper.search_size == paper_size) & ~paper.ce].iloc[0]
ce_row = paper[(paper.search_size == paper_size) & paper.ce].iloc[0]
side = pd.DataFrame({
    f"paper {paper_size} px, w/ CE vs w/o": {
        "MACs change (%)": 100 * (ce_row.macs_g / base_row.macs_g - 1),
        "speed-up (FPS ratio)": ce_row.fps / base_row.fps,
        "AO change (pts)": ce_row.got10k_ao - base_row.got10k_ao,
        "AO w/o CE (%)": base_row.got10k_ao},
    f"ours {search_size} px, keep {keep_ratio} at {list(ce_loc) if with_ce else '–'} vs no CE": {
        "MACs change (%)": summary["macs_change_pct"], "speed-up (FPS ratio)": summary["speedup"],
        "AO change (pts)": summary["d_ao"], "AO w/o CE (%)": summary["ao_ref"]},
})
display(side.round(2))
display(pt.frame().rename(columns=pt.columns))

# %%
display(Markdown(f"""**What differs from the paper** (read the numbers above with this in mind)

| | paper (Table 3) | this run |
|---|---|---|
| data | trained on GOT-10k / LaSOT / TrackingNet / COCO; AO on GOT-10k test (one-shot: GOT-10k train only) | procedural benchmark (`{synth_preset}`): {n_train} training sequences of {train_frames} frames, {n_test} held-out test sequences of {n_frames} frames, scored with the GOT-10k protocol locally |
| network | ViT-B/16 (dim 768, 12 blocks), 128/256 and 192/384 px, CE at blocks 3, 6, 9 | `{preset}` (dim {base.model.embed_dim}, {base.model.depth} blocks), {variant.model.template_size}/{search_size} px, CE at {list(ce_loc) if with_ce else 'none'}, keep {keep_ratio} |
| initialisation and training | MAE-pretrained backbone, 300 epochs × 60k pairs, batch 128 | {'procedural MAE (trackkit pretrain)' if init == 'mae' else 'random init' if not pretrained else pretrained}, {train_epochs} epoch(s) × {samples_per_epoch} pairs, batch {batch_size} |
| CE in training | each row trained with its own CE schedule | {'applied at inference only (one network trained without CE)' if ce_mode == 'inference' else 'trained with its own CE schedule'} |
| speed | FPS on the authors' GPU | model-only latency, batch 1, {torch.get_num_threads()} thread(s) on {dev}, median of {latency_runs} interleaved runs |
| seeds | one trained model per row | seed {seed}; confidence intervals resample test sequences only (not training seeds) |
"""))

# %% [markdown]
# ## Speed-accuracy trade-off
#
# Left: this run, AO (95% bootstrap CI) against model latency, reference and variant.
# Right: the paper's four models (latency = 1000 / FPS on its GPU). `trackkit report` draws
# the same figure over every grid point of the study.

# %%
names = {"reference": "reference (no CE)", "variant": f"keep {keep_ratio}" + (f" @ {list(ce_loc)}" if with_ce else "")}
pts = pd.DataFrame([{"network": names[k], "latency_ms": cost[k]["latency_ms"],
                     **(100 * ci[k].loc["ao", ["estimate", "lo", "hi"]]).rename({"estimate": "ao"})} for k in names])
fig, (ax, bx) = plt.subplots(1, 2, figsize=(9, 3.4))
sns.scatterplot(data=pts, x="latency_ms", y="ao", hue="network", s=70, ax=ax)
ax.errorbar(pts.latency_ms, pts.ao, yerr=[pts.ao - pts.lo, pts.hi - pts.ao], fmt="none", ecolor="grey", capsize=3)
ax.set(xlabel=f"latency (ms, {dev}, batch 1)", ylabel="AO (%)", title=f"ours: {search_size} px")
pp = paper.assign(latency_ms=1e3 / paper.fps, label=[f"{s} px {'w/' if c else 'w/o'} CE"
                                                   for s, c in zip(paper.search_size, paper.ce)])
sns.scatterplot(data=pp, x="latency_ms", y="got10k_ao", hue="label", s=70, ax=bx)
bx.set(xlabel="latency (ms, 1000 / FPS, GPU)", ylabel="GOT-10k* AO (%)", title="paper: Table 3")
for a in (ax, bx):
    a.legend(fontsize=7)
plt.tight_layout()
