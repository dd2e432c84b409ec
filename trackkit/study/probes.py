"""What candidate elimination (CE) does inside a one-stream network: the networks compared,
what CE keeps, measured and drawn.

- :func:`ce_presets`: a CE variant and the same network without CE (Table 3's "w/" and "w/o"
  rows of OSTrack) derived from a base preset, at any search size and training budget.

OSTrack's CE keeps, in each CE block, the search tokens that the template's centre token
attends to most (head-averaged attention, Eq. 6 of the paper). That keeps the target only if
this attention already points at it. Two views of it:

- :func:`ce_target_retention`: over held-out template / search pairs cropped as the tracker
  crops them (template around frame 0's box; search around the previous frame's box), how
  often the search token under the target's centre survives every CE block, beside the
  chance of keeping it when tokens are kept at random.
- :func:`dropped_tokens_figure`: one search crop, and after each CE block the tokens it
  dropped greyed out.

Both take an already built network (its weights loaded), the crop settings (a
``TrackConfig``-like object: ``template_factor``, ``template_size``, ``search_factor``,
``search_size``, ``mean``, ``std``, ``border_quirk``) and sequences with ``frame(i)``,
``boxes`` and ``visible`` (``trackkit.data`` sequences); they never look up a preset.
"""
from __future__ import annotations

import numpy as np
import torch

from trackkit.crop import box_in_crop, normalize, sample_crops, stack_frames

__all__ = ["ce_presets", "probe_pairs", "ce_target_retention", "dropped_tokens_figure", "DROPPED_SHADE"]

# dropped tokens are drawn as 0.25 * pixel + 0.75 * 200: light grey, the content still faintly visible
DROPPED_SHADE = (0.25, 0.75 * 200)


def ce_presets(base, *, search_size: int, keep_ratio: float, ce_loc, train_epochs: int, samples_per_epoch: int,
               batch_size: int, search_factor: float = 0.0, lr: float = 0.0, pretrained: str = ""):
    """(reference, variant): ``base`` at ``search_size`` without CE, and with CE in the 0-based
    blocks ``ce_loc`` at ``keep_ratio``; ``variant is reference`` when nothing would be removed
    (ratio 1.0 keeps ceil(1.0 n) = n tokens, so no CE module is built; or no block given).

    The template is scaled with the search size (half of it, as OSTrack-256 / -384). The search
    factor is ``search_factor``, else the base's at its own size and 5.0 at any other
    (OSTrack-384's). The training budget scales OSTrack's 300-epoch schedule: CE keep-rate
    warm-up from epoch 20 over 80 epochs, lr x0.1 at epoch 240 (each at least epoch 1).
    ``lr`` / ``pretrained``: 0 / empty keep the base's.
    """
    scale = search_size / base.model.search_size
    template_size = int(round(base.model.template_size * scale))
    factor = search_factor or (base.track.search_factor if scale == 1 else 5.0)
    e = train_epochs
    common = [f"model.search_size={search_size}", f"track.search_size={search_size}",
              f"model.template_size={template_size}", f"track.template_size={template_size}",
              f"track.search_factor={factor}", f"train.epochs={e}", f"train.samples_per_epoch={samples_per_epoch}",
              f"train.batch_size={batch_size}", f"train.lr_drop_epoch={max(1, round(e * 240 / 300))}",
              f"train.ce_start_epoch={max(1, round(e * 20 / 300))}",
              f"train.ce_warm_epochs={max(1, round(e * 80 / 300))}"]
    common += ([f"train.lr={lr}"] if lr else []) + ([f"model.pretrained={pretrained}"] if pretrained else [])
    reference = base.override(common + ["model.ce_loc=()"])
    if keep_ratio >= 1 or not len(ce_loc):
        return reference, reference
    return reference, base.override(common + [f"model.ce_loc={list(ce_loc)}", f"model.ce_keep_ratio={keep_ratio}"])


def probe_pairs(dataset, pairs_per_sequence: int = 8) -> tuple[list, list, np.ndarray, np.ndarray, np.ndarray]:
    """(template frames, search frames, template boxes, previous boxes, target boxes).

    Per sequence: frames ``k = 1, 1 + s, 1 + 2s, ...`` with ``s = max(1, len // pairs_per_sequence)``
    (so about ``pairs_per_sequence`` pairs; one more when the length does not divide), keeping
    those where the target is visible in frame k and in frame k - 1 (the crop centre)."""
    zs, xs, zb, xb, gt = [], [], [], [], []
    for q in dataset:
        for k in range(1, len(q), max(1, len(q) // pairs_per_sequence)):
            if q.visible[k] and q.visible[k - 1]:
                zs.append(q.frame(0))
                xs.append(q.frame(k))
                zb.append(q.boxes[0])
                xb.append(q.boxes[k - 1])
                gt.append(q.boxes[k])
    return zs, xs, np.asarray(zb), np.asarray(xb), np.asarray(gt)


def _ce_forward(model, track, template_frames, search_frames, template_boxes, prev_boxes, device,
                border_quirk: bool = True):
    """One batched forward pass on crops made as the tracker makes them; returns the model's
    output, the search crops (0..255) and their resize factors."""
    fz, sz = stack_frames(template_frames, device)
    fx, sx = stack_frames(search_frames, device)
    z, rz = sample_crops(fz, sz, template_boxes, track.template_factor, track.template_size, border_quirk)
    x, rx = sample_crops(fx, sx, prev_boxes, track.search_factor, track.search_size, border_quirk)
    template_box = torch.as_tensor(box_in_crop(template_boxes, template_boxes, rz, track.template_size),
                                   dtype=torch.float32).to(device)
    with torch.no_grad():
        out = model(normalize(z.float(), track.mean, track.std), normalize(x.float(), track.mean, track.std),
                    template_box=template_box)
    if not out.get("keep_indices"):
        raise ValueError("the network has no candidate-elimination block: nothing to probe")
    return out, x, rx


def ce_target_retention(model, track, dataset, device: str = "cpu", pairs_per_sequence: int = 8) -> dict:
    """How often CE keeps the target's centre token, vs keeping tokens at random.

    The target-centre token is the search token whose ``feat_size x feat_size`` cell holds the
    centre of the ground-truth box (in the search crop, clipped to the grid). It is kept when
    it is among the last CE block's kept indices (so it survived every block).

    Returns ``{'pairs', 'target_kept', 'chance_kept', 'kept_tokens', 'tokens'}``, the two rates in
    %. ``chance_kept`` = kept / all search tokens. Raises ValueError for a network without CE or
    a dataset with no usable pair.
    """
    zs, xs, zb, xb, gt = probe_pairs(dataset, pairs_per_sequence)
    if not len(gt):
        raise ValueError("no frame pair with the target visible in both frames")
    out, _, rx = _ce_forward(model, track, zs, xs, zb, xb, device)
    g = box_in_crop(gt, xb, rx, track.search_size)  # target in the search crop, normalised
    f = model.feat_size
    cx = np.clip(((g[:, 0] + g[:, 2] / 2) * f).astype(int), 0, f - 1)
    cy = np.clip(((g[:, 1] + g[:, 3] / 2) * f).astype(int), 0, f - 1)
    kept = out["keep_indices"][-1]
    centre = torch.as_tensor(cy * f + cx).to(kept.device)
    return {"pairs": len(gt), "target_kept": 100 * (kept == centre[:, None]).any(1).float().mean().item(),
            "chance_kept": 100 * kept.shape[1] / f ** 2, "kept_tokens": int(kept.shape[1]), "tokens": f ** 2}


def dropped_tokens_figure(model, track, sequence, frame: int = 1, ce_blocks=None, device: str = "cpu",
                          panel_inches: float = 2.6):
    """Matplotlib figure: the search crop of ``frame`` (cropped around frame - 1's box, template
    from frame 0) and, after each CE block, the same crop with the dropped tokens greyed out;
    the target box in green. ``ce_blocks`` (the blocks' indices) only label the panels."""
    import matplotlib.pyplot as plt

    prev = np.asarray(sequence.boxes[frame - 1], dtype=np.float64)[None]
    zb = np.asarray(sequence.boxes[0], dtype=np.float64)[None]
    out, crop, rf = _ce_forward(model, track, [sequence.frame(0)], [sequence.frame(frame)], zb, prev, device,
                                border_quirk=track.border_quirk)
    size = track.search_size
    gt = box_in_crop(np.asarray(sequence.boxes[frame], dtype=np.float64)[None], prev, rf, size)[0] * size
    f, p = model.feat_size, size // model.feat_size
    img = crop[0].permute(1, 2, 0).cpu().numpy().round().clip(0, 255).astype(np.uint8)
    stages = [k[0].cpu().numpy() for k in out["keep_indices"]]
    blocks = list(ce_blocks) if ce_blocks is not None else list(range(1, len(stages) + 1))
    fig, axes = plt.subplots(1, len(stages) + 1, figsize=(panel_inches * (len(stages) + 1), panel_inches + 0.2))
    for i, ax in enumerate(np.atleast_1d(axes)):
        shown = img.copy()
        if i:
            keep = np.zeros(f * f, bool)
            keep[stages[i - 1]] = True
            mask = np.kron(~keep.reshape(f, f), np.ones((p, p), bool))
            shown[mask] = (DROPPED_SHADE[0] * shown[mask] + DROPPED_SHADE[1]).astype(np.uint8)
        ax.imshow(shown)
        ax.add_patch(plt.Rectangle(gt[:2], gt[2], gt[3], fill=False, color="lime", lw=1.5))
        ax.set_title("search crop" if i == 0 else f"after CE block {blocks[i - 1]}: {len(stages[i - 1])} kept",
                     fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig
