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
# # trackkit quickstart: train a tiny OSTrack, track, look at what it does
#
# Five steps, each with the idea behind it: procedural sequences → a one-stream ViT with
# early candidate elimination → a few minutes of training → tracking with a Hanning window
# → scoring against a baseline. Equations are OSTrack's (Ye et al., ECCV 2022).
#
# The committed defaults run in seconds (CI runs this notebook) and train nothing useful.
# For a few-minute interactive run set `n_train=60, train_frames=100, train_epochs=6,
# samples_per_epoch=1000, n_test=10, n_frames=100` (about 5 minutes on 2 cores).

# %% tags=["parameters"]
preset: str = "ostrack-cpu"  # CPU-sized OSTrack: dim 128, depth 4, 64/128 px crops, CE at blocks 1, 2
synth_preset: str = "easy"  # procedural benchmark difficulty: easy | default | hard | clean
n_train: int = 4  # training sequences (interactive: 60)
train_frames: int = 30  # frames per training sequence (interactive: 100)
train_epochs: int = 1  # epochs (interactive: 6)
samples_per_epoch: int = 16  # training pairs per epoch (interactive: 1000)
batch_size: int = 8  # training batch (interactive: 32)
n_test: int = 2  # held-out test sequences (interactive: 10)
n_frames: int = 10  # frames per test sequence (interactive: 100)
seed: int = 0  # weights, pairs and data
studies_dir: str = "../runs/studies"  # where the main job's study records are (the tour's trained networks)
cache_dir: str = "../runs/cache"  # ... and its cached weights

# %%
import tempfile

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch

from trackkit.crop import hann2d
from trackkit.data.synth import SynthDataset, get_synth_preset
from trackkit.eval import evaluate
from trackkit.eval.plots import success_plot
from trackkit.families import build_model, build_tracker, get_preset, train_preset
from trackkit.study.probes import dropped_tokens_figure
from trackkit.track import InitBoxTracker, run_tracker

sns.set_theme(context="notebook", style="whitegrid")
work = tempfile.mkdtemp(prefix="trackkit-quickstart-")

# %% [markdown]
# ## 1. Procedural sequences
#
# No dataset can be downloaded here, so trackkit renders its own: a textured target moving
# over a textured background, with distractors, occluders, scale change, blur and camera
# motion staged at random. A sequence is a pure function of (config, seed, split, index):
# the training and test splits never share a sequence. Ground truth is the target's box
# clipped to the image (GOT-10k's convention), with per-frame cover / absence labels.

# %%
train_set = SynthDataset(get_synth_preset(synth_preset), n_train, train_frames, seed=seed, split="train")
test_set = SynthDataset(get_synth_preset(synth_preset), n_test, n_frames, seed=seed, split="test")
seq = train_set[0]
show = np.linspace(0, len(seq) - 1, 4).astype(int)
fig, axes = plt.subplots(1, 4, figsize=(12, 2.6))
for ax, i in zip(axes, show):
    ax.imshow(seq.frames[i])
    x, y, w, h = seq.boxes[i]
    ax.add_patch(plt.Rectangle((x, y), w, h, fill=False, color="lime", lw=1.5))
    ax.set_title(f"{seq.name} frame {i}", fontsize=8)
    ax.axis("off")
plt.tight_layout()
pd.Series(seq.attributes).to_frame("value").T

# %% [markdown]
# ## 2. One stream: template and search region in one ViT
#
# Both crops are cut into $P\times P$ patches and embedded (Eq. 1-2):
# $\mathbf{H}_z^0 = [z_p^1\mathbf{E};\dots;z_p^{N_z}\mathbf{E}] + \mathbf{P}_z$ and
# $\mathbf{H}_x^0 = [x_p^1\mathbf{E};\dots;x_p^{N_x}\mathbf{E}] + \mathbf{P}_x$. The
# concatenated tokens go through plain ViT blocks, so one attention does feature extraction
# *and* template-search relation modelling (Eq. 3-5):
#
# $$\mathrm{Softmax}\!\left(\frac{[\mathbf{Q}_z;\mathbf{Q}_x][\mathbf{K}_z;\mathbf{K}_x]^\top}{\sqrt{d_k}}\right)
#   = [\mathbf{W}_{zz}, \mathbf{W}_{zx};\ \mathbf{W}_{xz}, \mathbf{W}_{xx}],\qquad
#   \mathbf{A} = [\mathbf{W}_{zz}\mathbf{V}_z + \mathbf{W}_{zx}\mathbf{V}_x;\ \mathbf{W}_{xz}\mathbf{V}_z + \mathbf{W}_{xx}\mathbf{V}_x].$$
#
# **Early candidate elimination.** In a CE block, the attention of the template's centre
# token $\phi = \lfloor W_z/2\rfloor + W_z\lfloor H_z/2\rfloor$ to the search tokens, averaged over
# the $M$ heads, scores each search token (a candidate):
# $\bar{\mathbf{w}}_x^{\phi} = \frac{1}{M}\sum_{m}\mathbf{w}_x^{\phi}(m)$. The block keeps the
# $k = \lceil\rho\,n\rceil$ best candidates (keep ratio $\rho$) and drops the rest; before the
# head, kept tokens return to their positions and dropped ones become zeros.

# %%
p = get_preset(preset, [f"train.epochs={train_epochs}", f"train.samples_per_epoch={samples_per_epoch}",
                        f"train.batch_size={batch_size}", "train.ce_start_epoch=1",
                        f"train.ce_warm_epochs={max(1, train_epochs // 2)}",
                        f"train.lr_drop_epoch={max(1, round(0.8 * train_epochs))}"])
m = p.model
print(f"{p.name}: {p.description}")
print(f"template {m.template_size} px -> {m.template_grid ** 2} tokens, search {m.search_size} px -> "
      f"{m.feat_size ** 2} tokens; CE at blocks {list(m.ce_loc)} keeps {' -> '.join(map(str, m.ce_token_counts()))}")
torch.manual_seed(seed)
model = build_model(p)
print(f"{sum(t.numel() for t in model.parameters()) / 1e6:.2f} M parameters")

# %% [markdown]
# ## 3. Training
#
# Pairs of frames from one sequence (template, search) are cropped around the target (the
# search crop jittered), and the head predicts a score map $\mathbf{P}$, offsets $\mathbf{O}$
# and sizes $\mathbf{S}$ on the $F\times F$ token grid; the box is read at the score peak (Eq. 7):
# $(x, y, w, h) = (x_d + \mathbf{O}(0,x_d,y_d),\ y_d + \mathbf{O}(1,x_d,y_d),\ \mathbf{S}(0,x_d,y_d),\ \mathbf{S}(1,x_d,y_d))$.
# The loss (Eq. 8) is $L = L_{cls} + \lambda_{iou} L_{GIoU} + \lambda_{L_1} L_1$ with
# $\lambda_{iou}=2$, $\lambda_{L_1}=5$. $L_{cls}$ is CenterNet's focal loss against a Gaussian
# heatmap $Y$ at the target centre ($N$ positives, $\alpha=2$, $\beta=4$):
#
# $$L_{cls} = -\frac{1}{N}\sum_{xy}\begin{cases}(1-\hat P_{xy})^{\alpha}\log \hat P_{xy} & Y_{xy}=1\\
#   (1-Y_{xy})^{\beta}\,\hat P_{xy}^{\alpha}\log(1-\hat P_{xy}) & \text{otherwise}\end{cases}\qquad
#   L_{GIoU} = 1 - \mathrm{IoU} + \frac{|C \setminus (B\cup B^{gt})|}{|C|}$$
#
# ($C$: the smallest box enclosing both). The CE keep rate is 1 at first and eases to
# $\rho$ with a cosine, so the network learns to find the target before it drops tokens.

# %%
log = train_preset(p, train_set, f"{work}/train", model=model, seed=seed)
curve = pd.DataFrame([{"epoch": r["epoch"], **r["loss"]} for r in log])
ax = curve.plot(x="epoch", y=["total", "focal", "giou", "l1"], marker="o", figsize=(5, 3), logy=True)
ax.set_ylabel("training loss (epoch mean)")
curve.round(4)

# %% [markdown]
# ## 4. Tracking
#
# Frame 0 gives the template (cropped once, never updated). On every later frame the
# search region is cropped around the previous box, the score map is multiplied by a
# Hanning window that favours small motions, and the peak gives the box:
#
# $$\mathrm{hann}(n)_k = \tfrac12\left(1 - \cos\frac{2\pi k}{n+1}\right),\ k = 1..n,\qquad
#   W = \mathrm{hann}(F)\,\mathrm{hann}(F)^\top,\qquad (x_d, y_d) = \arg\max_{xy}\ (\mathbf{P}\odot W)_{xy}.$$

# %%
tracker = build_tracker(p, model=model, name="ostrack-cpu")
plt.figure(figsize=(2.4, 2.2))
plt.imshow(hann2d(m.feat_size).numpy(), cmap="magma")
plt.title(f"Hanning window {m.feat_size}x{m.feat_size}", fontsize=8)
plt.axis("off")
run_tracker(tracker, test_set, f"{work}/results", batch_size=8)
run_tracker(InitBoxTracker(), test_set, f"{work}/results", name="init-box")
pred = np.loadtxt(f"{work}/results/ostrack-cpu/{test_set[0].name}/{test_set[0].name}_001.txt", delimiter=",")
seq = test_set[0]
fig, axes = plt.subplots(1, 4, figsize=(12, 2.6))
for ax, i in zip(axes, np.linspace(1, len(seq) - 1, 4).astype(int)):
    ax.imshow(seq.frames[i])
    for (x, y, w, h), c in ((seq.boxes[i], "lime"), (pred[i], "red")):
        ax.add_patch(plt.Rectangle((x, y), w, h, fill=False, color=c, lw=1.5))
    ax.set_title(f"frame {i} (green: truth, red: tracker)", fontsize=8)
    ax.axis("off")
plt.tight_layout()

# %% [markdown]
# ## 5. Which search tokens CE drops
#
# The search crop of frame 1 and, after each CE block, the tokens it kept (dropped ones
# greyed out). OSTrack's MAE-pretrained network keeps the target and what looks like it.
# A network trained from random init for minutes does not: its template-centre attention
# does not yet point at the target, so CE often drops the target's tokens (the
# `ece_keep_ratio` study measures how often: below chance at this scale). Watch for it here.

# %%
dropped_tokens_figure(model.eval(), p.track, seq, ce_blocks=m.ce_loc);

# %% [markdown]
# ## 6. Scoring: success plot against a baseline
#
# GOT-10k's protocol: AO is the mean IoU over all frames after the first, SR$_t$ the
# fraction of frames with IoU above $t$; the success plot draws SR$_t$ for every $t$. The
# baseline repeats the initial box: a tracker that does not beat it has learned nothing.
# Confidence intervals resample sequences.

# %%
scores = {name: evaluate(test_set, f"{work}/results/{name}", "got10k") for name in ("ostrack-cpu", "init-box")}
fig, ax = plt.subplots(figsize=(5, 3.6))
success_plot(scores, ax=ax, title=f"success plot, {n_test} procedural test sequences")
pd.concat({k: r.bootstrap(n_boot=500, metrics=("ao", "sr50")) for k, r in scores.items()})[
    ["estimate", "lo", "hi"]].round(3)

# %% [markdown]
# ## 7. A tour of the five families on the same sequence
#
# Every family is a few deltas on the same one-stream ViT (patch embeddings of template $z$ and
# search $x$, joint self-attention over $[z; x]$):
#
# | family | what it adds | one equation |
# |---|---|---|
# | OSTrack | candidate elimination: keep the search tokens the template centre attends to most | keep $\mathrm{top}_{\lceil\rho n\rceil}\, \mathrm{softmax}(q_{z_c} K_x^\top/\sqrt{d})$ |
# | SimTrack | a foveal window (a zoomed centre crop as extra tokens) and a distinguishable template position embedding | $E_z = E_{pos}(z) + e_{tgt}\,\mathbb{1}[\text{in box}]$ |
# | FastSeqTrack | the box as four words, read in one pass with early exits | exit at layer $l$ when $\sum_{i=1}^{4} \max_t p_l(w_i = t) > \tau$ |
# | STDTrack | a spatiotemporal token carried frame to frame, fused with a memory of the best past tokens | $Q = \max(S) / \sum S$ ranks what the memory keeps |
# | ACTrack | a frozen tracker plus a trainable additive net joined by zero-initialised links | $h_l = f_l(h_{l-1}) + Z_l\, g_l(z, x)$, $Z_l = 0$ at start |
#
# When the main job has run (`make main`), the trained networks of the `trackers` study are in
# the cache and the tour tracks with them; otherwise it builds tiny untrained ones (the boxes are
# then meaningless: the point is that one loop runs them all).

# %%
from trackkit.families import load_model
from trackkit.study.reference import lineup_weights

TOUR = {"ostrack": "ostrack-cpu-noce", "simtrack": "simtrack-cpu", "fastseqtrack": "fastseqtrack-cpu",
        "stdtrack": "stdtrack-cpu-full", "actrack": "actrack-cpu"}
trained = lineup_weights(studies_dir, cache_dir)
seq = test_set[0]
frames = np.linspace(1, len(seq) - 1, 3).astype(int)
fig, axes = plt.subplots(len(TOUR), 3, figsize=(9, 2.4 * len(TOUR)))
for row, (family, name) in zip(axes, TOUR.items()):
    if family in trained:
        net, tour_preset = load_model(trained[family])
        source = "trained by the main job"
    else:
        torch.manual_seed(seed)
        tour_preset = get_preset(name)
        net, source = build_model(tour_preset).eval(), "untrained (run `make main` for trained ones)"
    run_tracker(build_tracker(tour_preset, model=net, name=family), [seq], f"{work}/tour", batch_size=1)
    pred = np.loadtxt(f"{work}/tour/{family}/{seq.name}/{seq.name}_001.txt", delimiter=",")
    for ax, i in zip(row, frames):
        ax.imshow(seq.frames[i])
        for (x, y, w, h), c in ((seq.boxes[i], "lime"), (pred[i], "red")):
            ax.add_patch(plt.Rectangle((x, y), w, h, fill=False, color=c, lw=1.5))
        ax.set_title(f"{family} ({source.split(' (')[0]}), frame {i}", fontsize=7)
        ax.axis("off")
plt.tight_layout()

