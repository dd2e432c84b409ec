"""ACTrack (additive spatio-temporal conditions): a frozen pre-trained one-stream tracker, a
trainable additive siamese conv net, box-history tokens and a coordinate-sequence head.

The paper (shared/papers/actrack.md) has no public code and its method section is missing:
the abstract, introduction, Fig. 1/2 captions and related work are all there is. What they
fix: the pre-trained Transformer backbone is frozen; a lightweight trainable "additive siamese
convolutional network" over template and search images conditions it (side-tuning /
ControlNet inspired); "the track sequence [is] transferred from [the] previous frame and
concatenated with generic features to generate spatio-temporal conditional queries"; "the
object coordinate is predicted frame-by-frame through temporal sequence modeling" (Pix2Seq /
SeqTrack / ARTrack style), with no task-specific head or post-processing.

What was taken from the two works it cites (read, not copied):
- ControlNet (lllyasviel/ControlNet, README and cldm): the production model is *locked*; a
  trainable branch sees the condition; its features reach the locked model only through
  **zero convolutions** (1x1 convs whose weight and bias start at 0), one per connection, so
  before training the combined model *is* the locked one, and gradients still reach the zero
  layers (their input is non-zero). The locked encoder keeps no gradients of its own weights.
  Its condition encoder is a small stack of 3x3 convs with SiLU, strided down to the latent
  resolution. Taken: zero-initialised per-connection projections, a small strided conv stem
  with SiLU, the locked model's weights without gradient or optimiser state.
- Side-tuning (Zhang et al., ECCV 2020): a frozen base network plus a small side network whose
  output is *added* to the base's (alpha-blended). Taken: additive combination with a cheap
  side network, not a trainable copy of the backbone (ControlNet's choice), because the paper
  stresses "lightweight" and training memory.

Readings of everything the paper leaves open (each an ablation knob of
:class:`ACTrackConfig` where one would vary it):
- Additive net (``side_channels``; 0 = none, the "frozen + head only" arm): a siamese stem
  (shared weights for template and search): a 4x4 stride-4 conv, then stride-2 3x3 convs to
  the patch grid, SiLU after each (ControlNet's hint encoder is strided 3x3 convs with SiLU;
  the patchifying first layer is this kit's, to keep full-resolution convs cheap on CPU); with ``side_match`` the search features are concatenated with a depthwise
  cross-correlation against the template features ("siamese ... based on similarity
  matching", SiamRPN++'s depthwise xcorr, 'same' size, mean over the template cells) and fused
  by a 1x1 conv. Per injection block ``i`` in ``inject_blocks`` (() = every block) two
  zero-initialised Linear(c, D) ("zero convolutions" on tokens) add the template / search
  features to the template / surviving search tokens after block ``i``
  (``OneStreamViT.forward(inject=...)``; none to the template after the last block, which
  nothing reads); class and history tokens get nothing.
- Box-history tokens (``history`` = k): the boxes of the k previous frames, mapped into the
  current search crop and written x1, y1, x2, y2, are quantised into ``bins`` bins over
  [-(r-1)/2, 1+(r-1)/2] of the crop (r = ``coord_range``, ARTrack's range 2: history boxes may
  lie outside the crop) and embedded by the head's coordinate embedding plus a learned
  position per (frame, coordinate). They enter the backbone as ``extra_tokens`` in this
  order: oldest frame first, within a frame x1, y1, x2, y2 (token 4j+c = frame t-k+j,
  coordinate c). The backbone's outputs at those tokens are the spatio-temporal conditional
  queries.
- Coordinate sequence head (written here: the shared ``trackkit/models/seqdecoder.py`` landed
  while this family was being written, and its SeqTrack vocabulary clamps coordinates to the
  crop, [0, 1], where the history boxes need ARTrack's wider range): a small causal Transformer decoder over [conditional queries | start | x1 | y1 |
  x2] that cross-attends to the search tokens and predicts x1, y1, x2, y2 one after another
  (greedy argmax at test time, teacher forcing in training, as SeqTrack). Its coordinate
  embedding is shared with the history tokens (ARTrack shares its vocabulary the same way).
  Loss: cross-entropy over bins plus GIoU + L1 on the expected box (softmax-weighted bin
  centres, ARTrack's SIoU replaced by the kit's GIoU + L1 with the train config's weights);
  the focal weight must be 0 (no score map). No Hanning window (``track.hanning`` False), as
  the paper drops post-processing; ``score`` (record) is the mean max probability of the
  four coordinates.
- Training history: no earlier frames are rendered (rendering dominates a CPU step); the
  history is **jittered ground truth**: its last box is the jittered box the search crop is
  taken around (what the previous prediction is at test time), earlier boxes go back along a
  random constant velocity (std ``history_motion`` x target size per frame) with per-frame
  noise (std ``history_noise``) and log-size noise, drawn from a generator seeded by the
  clip's spec (deterministic, so resumes stay exact). Flipped crops flip their history.
- Tracking state: template crop, template box and the (B, k, 4) image-pixel box history
  (initialised with k copies of the initial box), updated every frame.
- Backbone policy: ``trainable`` ('none' = ACTrack, 'all', 'last:N', 'norm'); the additive
  net, the history embedding and the head always train. The backbone runs under
  ``torch.no_grad`` until the first point where something trainable enters it (a trainable
  embedding or block, the history tokens at the input, or the first injection): before that
  no activation needs a gradient. With trainable history tokens that point is the input, so
  gradients flow back through the frozen blocks (no weight gradients, no optimiser state).
- Initialisation from a tracker: ``init_tracker`` names a trackkit weights file of a trained
  one-stream tracker (e.g. ``ostrack-cpu-noce``) whose ``backbone.*`` tensors are loaded
  exactly (:func:`trackkit.models.weights.load_tracker_backbone`, shared by every family);
  ``pretrained`` loads an MAE / timm ViT as usual.

Presets: actrack-b256 (ViT-B/16 OSTrack-256 backbone, frozen) and actrack-cpu (the CPU
backbone of ``ostrack-cpu-noce``; load its trained weights with
``--set model.init_tracker=runs/.../model.pth``).
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import box_convert

from trackkit.crop import TrackConfig, box_in_crop, crop_geometry
from trackkit.errors import ConfigError
from trackkit.families.ostrack import CPU_MODEL, CPU_TRACK, CPU_TRAIN, MAE_B
from trackkit.families.registry import Family, Preset, register_family, register_preset
from trackkit.models.config import BackboneConfig
from trackkit.models.onestream import OneStreamViT, set_trainable
from trackkit.track.tracker import ModelTracker, State, Step
from trackkit.train.augment import ClipBatch
from trackkit.train.config import TrainConfig
from trackkit.train.losses import TrackingLoss
from trackkit.train.task import OneStreamPairTask


@dataclass(frozen=True)
class ACTrackConfig(BackboneConfig):
    """ACTrack's network: the one-stream ViT's fields (frozen by default) plus

    side_channels: width of the additive siamese conv net (0 = no additive net).
    side_match: add the depthwise template/search cross-correlation to the search features.
    inject_blocks: 0-based blocks after which side features are added (() = every block).
    history: previous frames' boxes entering as tokens (k; 0 = none).
    bins, coord_range: coordinate quantisation (bins over a crop-relative span of coord_range).
    decoder_depth, decoder_heads: the coordinate-sequence decoder.
    history_motion, history_noise: training-time history synthesis (fractions of target size).
    (init_tracker, the trained tracker whose backbone this one starts from, is a backbone field.)
    """

    ce_loc: tuple[int, ...] = ()
    trainable: str = "none"
    side_channels: int = 64
    side_match: bool = True
    inject_blocks: tuple[int, ...] = ()
    history: int = 4
    bins: int = 400
    coord_range: float = 2.0
    decoder_depth: int = 2
    decoder_heads: int = 8
    history_motion: float = 0.1
    history_noise: float = 0.05

    def problems(self) -> list[str]:
        p = super().problems()
        if self.side_channels < 0 or self.history < 0:
            p.append("side_channels and history must be >= 0")
        if self.patch_size & (self.patch_size - 1):
            p.append(f"patch_size={self.patch_size}: the additive net's strided stem needs a power of 2")
        bad = [i for i in self.inject_blocks if not 0 <= i < self.depth]
        if bad:
            p.append(f"inject_blocks {bad} outside the {self.depth} blocks (0-based)")
        if self.bins < 2 or self.coord_range < 1:
            p.append("bins must be >= 2 and coord_range >= 1")
        if self.decoder_depth < 1 or self.embed_dim % self.decoder_heads:
            p.append(f"decoder_depth >= 1 and embed_dim divisible by decoder_heads={self.decoder_heads}")
        return p

    @property
    def injection_points(self) -> tuple[int, ...]:
        if not self.side_channels:
            return ()
        return tuple(self.inject_blocks) or tuple(range(self.depth))


# -- the additive siamese conv net --------------------------------------------------------------
def _zero_linear(cin: int, cout: int) -> nn.Linear:
    layer = nn.Linear(cin, cout)
    nn.init.zeros_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def depthwise_xcorr(search: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """(B,C,H,W) search, (B,C,h,w) kernel -> (B,C,H,W): per-channel correlation, 'same' size
    (zero padding, the extra pad of an even kernel at the bottom / right), mean over the
    kernel cells. Elementwise products and one sum per row: no batch-size-dependent kernels."""
    B, C, H, W = search.shape
    h, w = kernel.shape[-2:]
    padded = F.pad(search, ((w - 1) // 2, w // 2, (h - 1) // 2, h // 2))
    cols = F.unfold(padded, (h, w)).view(B, C, h * w, H * W)
    return (cols * kernel.reshape(B, C, h * w, 1)).mean(2).view(B, C, H, W)


class AdditiveSiameseNet(nn.Module):
    """Template / search features on the patch grid and their zero-initialised injections."""

    def __init__(self, channels: int, dim: int, patch_size: int, blocks: tuple[int, ...], match: bool,
                 depth: int):
        super().__init__()
        # a 4x4 stride-4 first layer (patchifying) keeps full-resolution convs out of the
        # CPU budget; then stride-2 3x3 convs down to the patch grid
        first = min(4, patch_size)
        layers = [nn.Conv2d(3, channels, first, stride=first), nn.SiLU()]
        for _ in range(int(math.log2(patch_size // first))):
            layers += [nn.Conv2d(channels, channels, 3, stride=2, padding=1), nn.SiLU()]
        self.stem = nn.Sequential(*layers)
        self.fuse = nn.Sequential(nn.Conv2d(2 * channels, channels, 1), nn.SiLU()) if match else None
        self.blocks = tuple(blocks)
        # nothing reads the template tokens after the last block: no projection there
        self.zero_z = nn.ModuleDict({str(i): _zero_linear(channels, dim) for i in blocks if i < depth - 1})
        self.zero_x = nn.ModuleDict({str(i): _zero_linear(channels, dim) for i in blocks})

    def features(self, template: torch.Tensor, search: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, Nz, c), (B, Ns, c) tokens in raster order."""
        fz, fx = self.stem(template), self.stem(search)
        if self.fuse is not None:
            fx = self.fuse(torch.cat([fx, depthwise_xcorr(fx, fz)], 1))
        return fz.flatten(2).transpose(1, 2), fx.flatten(2).transpose(1, 2)

    def add(self, i: int, h: torch.Tensor, layout, fz: torch.Tensor, fx: torch.Tensor) -> torch.Tensor:
        """``h`` after block ``i`` plus this block's projections of the side features (on the
        template tokens and on the surviving search tokens, at their raster positions)."""
        z = h[:, :layout.nz]
        if str(i) in self.zero_z:
            z = z + self.zero_z[str(i)](fz)
        dx = self.zero_x[str(i)](fx)
        dx = dx.gather(1, layout.index.unsqueeze(-1).expand(-1, -1, dx.shape[-1]))
        sl = layout.search_slice()
        return torch.cat([z, h[:, layout.nz:sl.start], h[:, sl] + dx, h[:, sl.stop:]], 1)


# -- the coordinate-sequence head ---------------------------------------------------------------
def _attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int, causal: bool) -> torch.Tensor:
    B, n, D = q.shape
    split = lambda t: t.reshape(B, t.shape[1], heads, D // heads).transpose(1, 2)
    out = F.scaled_dot_product_attention(split(q), split(k), split(v), is_causal=causal)
    return out.transpose(1, 2).reshape(B, n, D)


class DecoderLayer(nn.Module):
    """Pre-norm: causal self-attention, cross-attention to the search tokens, MLP."""

    def __init__(self, dim: int, heads: int, mlp_ratio: float = 4.0):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.cross_q = nn.Linear(dim, dim)
        self.cross_kv = nn.Linear(dim, 2 * dim)
        self.cross_proj = nn.Linear(dim, dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))

    def forward(self, x: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(self.norm1(x)).chunk(3, dim=-1)
        x = x + self.proj(_attend(q, k, v, self.heads, causal=True))
        k, v = self.cross_kv(memory).chunk(2, dim=-1)
        x = x + self.cross_proj(_attend(self.cross_q(self.norm2(x)), k, v, self.heads, causal=False))
        return x + self.mlp(self.norm3(x))


class CoordinateSequenceHead(nn.Module):
    """Coordinates as tokens: quantisation, the history embedding and an autoregressive decoder."""

    def __init__(self, dim: int, bins: int, coord_range: float, history: int, depth: int, heads: int):
        super().__init__()
        self.bins, self.history = bins, history
        self.lo = -(coord_range - 1) / 2
        self.span = coord_range
        self.start = bins  # the start token's index in the embedding
        self.word = nn.Embedding(bins + 1, dim)
        self.history_pos = nn.Parameter(torch.zeros(1, 4 * history, dim))
        self.seq_pos = nn.Parameter(torch.zeros(1, 4, dim))
        self.layers = nn.ModuleList(DecoderLayer(dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, bins)
        for p in (self.word.weight, self.history_pos, self.seq_pos):
            nn.init.trunc_normal_(p, std=0.02)

    def quantise(self, coords: torch.Tensor) -> torch.Tensor:
        """Crop-normalised coordinates -> bin indices (rounded, clamped to the span)."""
        u = (coords - self.lo) / self.span * (self.bins - 1)
        return u.round().clamp(0, self.bins - 1).long()

    def centres(self, dtype, device) -> torch.Tensor:
        return self.lo + torch.arange(self.bins, dtype=dtype, device=device) * (self.span / (self.bins - 1))

    def history_tokens(self, history: torch.Tensor) -> torch.Tensor:
        """(B, k, 4) x1, y1, x2, y2 -> (B, 4k, D): token 4j+c is frame j (oldest first), coordinate c."""
        return self.word(self.quantise(history).flatten(1)) + self.history_pos

    def logits(self, queries: torch.Tensor | None, memory: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
        """(B, j+1, bins) logits of coordinates 0..j given the first j (B, j) as bin indices."""
        B, j = prefix.shape
        start = torch.full((B, 1), self.start, dtype=torch.long, device=prefix.device)
        tokens = self.word(torch.cat([start, prefix], 1)) + self.seq_pos[:, :j + 1]
        x = tokens if queries is None else torch.cat([queries, tokens], 1)
        for layer in self.layers:
            x = layer(x, memory)
        return self.out(self.norm(x[:, -(j + 1):]))

    def generate(self, queries, memory) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy decoding -> (B, 4) bin indices and (B,) mean max probability."""
        prefix = memory.new_zeros(memory.shape[0], 0, dtype=torch.long)
        probs = []
        for _ in range(4):
            p = self.logits(queries, memory, prefix)[:, -1].softmax(-1)
            best = p.max(-1)
            probs.append(best.values)
            prefix = torch.cat([prefix, best.indices[:, None]], 1)
        return prefix, torch.stack(probs, 1).mean(1)


# -- the network --------------------------------------------------------------------------------
def _xyxy_to_cxcywh(b: torch.Tensor) -> torch.Tensor:
    return box_convert(b, "xyxy", "cxcywh")


class ACTrack(nn.Module):
    """``out = model(template, search, template_box=None, history=None, target=None)``.

    history: (B, k, 4) x1, y1, x2, y2 of the previous frames' boxes in the search crop,
        normalised (None: k copies of the centred box of side 1/4, where the previous box lies
        in a factor-4 search crop). target: (B, 4) x1, y1, x2, y2 ground truth for teacher
        forcing (training); without it the box is decoded greedily.
    Returns 'boxes' (B, 4) normalised cx, cy, w, h (the expected box under teacher forcing,
    the decoded one otherwise), 'logits' (B, 4, bins) (teacher forcing) or 'bins' (B, 4) and
    'score' (B,) (decoding), and the backbone's 'search' tokens.
    """

    def __init__(self, backbone: OneStreamViT, side: AdditiveSiameseNet | None, head: CoordinateSequenceHead,
                 cfg: ACTrackConfig):
        super().__init__()
        self.backbone = backbone
        self.side = side
        self.seq_head = head
        self.cfg = cfg

    @classmethod
    def from_config(cls, cfg: ACTrackConfig) -> "ACTrack":
        side = None
        if cfg.side_channels:
            side = AdditiveSiameseNet(cfg.side_channels, cfg.embed_dim, cfg.patch_size, cfg.injection_points,
                                      cfg.side_match, cfg.depth)
        head = CoordinateSequenceHead(cfg.embed_dim, cfg.bins, cfg.coord_range, cfg.history, cfg.decoder_depth,
                                      cfg.decoder_heads)
        model = cls(OneStreamViT.from_config(cfg), side, head, cfg)
        model.set_trainable(cfg.trainable)
        return model

    def set_trainable(self, spec: str) -> None:
        """Backbone policy ('none' | 'all' | 'last:N' | 'norm'); side net and head always train."""
        set_trainable(self.backbone, spec)

    def default_history(self, batch: int, device, dtype) -> torch.Tensor:
        box = torch.tensor([0.375, 0.375, 0.625, 0.625], device=device, dtype=dtype)
        return box.expand(batch, self.cfg.history, 4)

    def _grad_from(self, injects: bool) -> int | None:
        """After which block (-1: from the input) the backbone's activations need gradients;
        None: nowhere (the whole backbone can run without autograd)."""
        bb = self.backbone
        points = []
        stem = [bb.patch_embed, bb.norm_pre]
        stem_params = [p for m in stem for p in m.parameters()] + [bb.pos_embed_z, bb.pos_embed_x]
        if bb.cls_token is not None:
            stem_params += [bb.cls_token, bb.pos_embed_cls]
        head = self.seq_head
        if any(p.requires_grad for p in stem_params) or (
                self.cfg.history and (head.word.weight.requires_grad or head.history_pos.requires_grad)):
            return -1
        for i, blk in enumerate(bb.blocks):
            if any(p.requires_grad for p in blk.parameters()):
                points.append(i - 1)
                break
        if any(p.requires_grad for p in bb.norm.parameters()):
            points.append(len(bb.blocks) - 1)
        if injects and self.side is not None and any(p.requires_grad for p in self.side.parameters()):
            points.append(min(self.side.blocks))
        return min(points) if points else None

    def encode(self, template, search, template_box=None, history=None):
        """Backbone (+ side injections, history tokens) -> (conditional queries or None, search tokens, out)."""
        B = search.shape[0]
        extra = None
        if self.cfg.history:
            if history is None:
                history = self.default_history(B, search.device, search.dtype)
            extra = self.seq_head.history_tokens(history)
        side = None if self.side is None else self.side.features(template, search)
        grad = torch.is_grad_enabled()
        start = self._grad_from(side is not None) if grad else None

        def hook(i, h, layout):
            if grad and start is not None and i == start:
                torch.set_grad_enabled(True)
            if side is not None and i in self.side.blocks:
                h = self.side.add(i, h, layout, *side)
            return h

        torch.set_grad_enabled(grad and start == -1)
        try:
            feats = self.backbone(template, search, template_box=template_box, extra_tokens=extra, inject=hook)
        finally:
            torch.set_grad_enabled(grad)
        return feats["extra"], feats["search"], feats

    def forward(self, template, search, template_box=None, history=None, target=None) -> dict:
        queries, memory, feats = self.encode(template, search, template_box, history)
        head = self.seq_head
        if target is not None:
            logits = head.logits(queries, memory, head.quantise(target)[:, :3])
            expected = logits.float().softmax(-1) @ head.centres(torch.float32, logits.device)
            return {"logits": logits, "boxes": _xyxy_to_cxcywh(expected), "search": feats["search"]}
        bins, score = head.generate(queries, memory)
        coords = head.centres(memory.dtype, memory.device)[bins]
        return {"bins": bins, "boxes": _xyxy_to_cxcywh(coords), "score": score, "search": feats["search"]}


# -- training -----------------------------------------------------------------------------------
@dataclass
class HistoryBatch(ClipBatch):
    history: torch.Tensor | None = None  # (B, k, 4) x1, y1, x2, y2 in the search crop, normalised


def synth_history(spec, k: int, motion: float, noise: float) -> np.ndarray:
    """(k, 4) image-px x, y, w, h history ending at the box the search crop is taken around
    (see the module docstring); deterministic in the clip's spec."""
    ext = np.asarray(spec.search_extract[-1], dtype=np.float64)
    seed = [spec.seq, *spec.template_frames, *spec.search_frames, zlib.crc32(ext.tobytes())]
    rng = np.random.default_rng(seed)
    size = math.sqrt(ext[2] * ext[3])
    velocity = rng.normal(0.0, motion, 2) * size
    out = np.empty((k, 4))
    c, wh = ext[:2] + ext[2:] / 2, ext[2:].copy()
    for j in range(k - 1, -1, -1):
        out[j] = [*(c - wh / 2), *wh]
        c = c - velocity - rng.normal(0.0, noise, 2) * size
        wh = wh * np.exp(rng.normal(0.0, noise, 2))
    return out


class ACTrackTask(OneStreamPairTask):
    """Pairs + a synthesised box history; CE over bins + GIoU + L1 on the expected box."""

    def __init__(self, preset: Preset):
        super().__init__(preset.train, preset.track)
        if preset.train.focal_weight:
            raise ConfigError(f"preset {preset.name!r}: ACTrack has no score map; set train.focal_weight=0")
        m = preset.model
        self.k, self.motion, self.noise = m.history, m.history_motion, m.history_noise
        self.bins, self.span, self.lo = m.bins, m.coord_range, -(m.coord_range - 1) / 2  # the head's quantisation
        self.criterion = TrackingLoss(0.0, preset.train.giou_weight, preset.train.l1_weight)

    def make_batch(self, specs, template_frames, search_frames, device) -> HistoryBatch:
        base = super().make_batch(specs, template_frames, search_frames, device)
        t = self.track
        hist = np.zeros((len(specs), self.k, 4))
        if self.k:
            for b, s in enumerate(specs):
                ext = np.repeat(s.search_extract[-1:], self.k, 0)
                _, _, crop_sz = crop_geometry(ext, t.search_factor)
                h = box_in_crop(synth_history(s, self.k, self.motion, self.noise), ext,
                                t.search_size / crop_sz.astype(np.float64), t.search_size)
                if s.flip_search[-1]:
                    h[:, 0] = 1.0 - (h[:, 0] + h[:, 2])
                hist[b] = h
        hist[..., 2:] += hist[..., :2]  # x1, y1, w, h -> x1, y1, x2, y2
        return HistoryBatch(base.templates, base.search, base.template_boxes, base.search_boxes,
                            torch.as_tensor(hist, dtype=torch.float32, device=device))

    def forward(self, net, batch: HistoryBatch):
        target = box_convert(batch.search_boxes[:, 0], "xywh", "xyxy")
        return net(batch.templates[:, 0], batch.search[:, 0], template_box=batch.template_boxes[:, 0],
                   history=batch.history, target=target)

    def loss(self, out, batch: HistoryBatch):
        box_loss, parts = self.criterion(out, batch.search_boxes[:, 0])
        logits = out["logits"].float()
        target = box_convert(batch.search_boxes[:, 0].float(), "xywh", "xyxy")
        bins = ((target - self.lo) / self.span * (self.bins - 1)).round().clamp(0, self.bins - 1).long()
        ce = F.cross_entropy(logits.reshape(-1, self.bins), bins.reshape(-1))
        total = box_loss + ce
        return total, {**parts, "ce": float(ce.detach()), "total": float(total.detach())}


# -- tracking -----------------------------------------------------------------------------------
class ACTrackTracking:
    """Template once; every frame the search crop around the previous box, the box history
    mapped into it, greedy coordinate decoding; the history rolls by one box per frame.

    State: ``template`` (B,3,t,t), ``template_box`` (B,4), ``history`` (B,k,4) image px
    x, y, w, h, oldest first (k copies of the initial box at the start)."""

    def __init__(self, history: int):
        self.k = history

    def deploy(self, model: nn.Module) -> nn.Module:
        return model.eval()

    def init(self, tracker: ModelTracker, frames, boxes: np.ndarray) -> State:
        z, rf, _ = tracker.crop(frames, boxes, "template")
        return {"template": z, "template_box": tracker.box_in_template(boxes, rf),
                "history": np.repeat(boxes[:, None, :], self.k, axis=1)}

    def step(self, tracker: ModelTracker, frames, state: State, prev: np.ndarray) -> Step:
        x, rf, sizes = tracker.crop(frames, prev, "search")
        B, k = prev.shape[0], self.k
        h = box_in_crop(state["history"].reshape(-1, 4), np.repeat(prev, k, 0), np.repeat(rf, k),
                        tracker.cfg.search_size).reshape(B, k, 4)
        h[..., 2:] += h[..., :2]
        history = torch.as_tensor(h, device=tracker.device, dtype=tracker.dtype)
        out = tracker.model(state["template"], x, template_box=state["template_box"], history=history)
        boxes = tracker.to_image(out["boxes"], prev, rf, sizes)
        new = dict(state, history=np.concatenate([state["history"][:, 1:], boxes[:, None, :]], axis=1))
        return Step(boxes, new, {"score": out["score"].detach().to("cpu", torch.float64).numpy()})


FAMILY = register_family(Family(
    name="actrack", config=ACTrackConfig, build=ACTrack.from_config, task=ACTrackTask,
    tracking=lambda preset: ACTrackTracking(preset.model.history),
    description="frozen one-stream ViT + additive siamese conv net + box-history tokens + "
                "coordinate sequence (ACTrack)"))

# -- presets ------------------------------------------------------------------------------------
# Paper scale: the frozen backbone of OSTrack-256 without CE (load an OSTrack-256 tracker's
# backbone with model.init_tracker, or an MAE ViT-B with model.pretrained); sizes of the additive
# net and decoder are this kit's reading (the paper gives none); bins / range as ARTrack-256.
_B256 = ACTrackConfig(pretrained_source=MAE_B + " or an OSTrack-256 tracker via model.init_tracker",
                      decoder_heads=12)
register_preset(Preset("actrack-b256", "ACTrack: frozen ViT-B/16 (128/256 px) + additive siamese net + "
                       "4 history boxes + coordinate sequence", "actrack", _B256,
                       TrackConfig(hanning=False), TrainConfig(focal_weight=0.0)))
# CPU scale: ostrack-cpu-noce's backbone (so its trained weights load with model.init_tracker),
# a 32-channel additive net, 2 bins per px of the 128 px crop over range 2 (256 bins).
_CPU = ACTrackConfig(**{f: getattr(CPU_MODEL, f) for f in (
    "embed_dim", "depth", "num_heads", "template_size", "search_size", "drop_path_rate", "pretrained_grid")},
    ce_loc=(), pretrained_source="none (random init); a trained ostrack-cpu-noce via model.init_tracker",
    side_channels=32, bins=256, decoder_depth=1, decoder_heads=4)
register_preset(Preset("actrack-cpu", "CPU-sized ACTrack: frozen dim-128 depth-4 backbone, 32-channel "
                       "additive net, 4 history boxes, 1-layer coordinate decoder", "actrack", _CPU,
                       replace(CPU_TRACK, hanning=False),
                       replace(CPU_TRAIN, focal_weight=0.0, center_jitter=1.5)))


# -- adaptation arms (the frozen_vs_tuned study) ------------------------------------------------
# arm -> (backbone policy, additive net on); "{k}" is the number of tuned last blocks
ADAPTATION_ARMS = {"full": ("all", False), "actrack": ("none", True), "head": ("none", False),
                   "lastk": ("last:{k}", False)}


def adaptation_presets(base: Preset, tracker_weights: str | Path, last_k: int = 1,
                       overrides: tuple[str, ...] | list[str] = ()) -> dict[str, Preset]:
    """The adaptation arms of ``base`` (an ACTrack preset), each starting from the backbone of
    the trained tracker ``tracker_weights``: full fine-tuning, frozen + additive net (ACTrack),
    frozen + head only (the sequence head and history embedding), last ``last_k`` blocks tuned.
    Every arm has the same head and history tokens; ``overrides`` apply to all of them."""
    out = {}
    for arm, (policy, side) in ADAPTATION_ARMS.items():
        sets = [f"model.init_tracker={tracker_weights}", f"model.trainable={policy.format(k=last_k)}"]
        sets += [] if side else ["model.side_channels=0"]
        out[arm] = replace(base.override(list(overrides) + sets), name=f"{base.name}-{arm}")
    return out
