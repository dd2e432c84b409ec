"""STDTrack (Shi et al., "Exploring Reliable Spatiotemporal Dependencies for Efficient Visual
Tracking"): spatiotemporal token, MFIFM, token maintainer (STM), mask-based enhancement and a
re-parameterisable multi-scale center head, trained on dense clips.

Deltas on the shared parts:
- config: :class:`STDTrackConfig` = the backbone's fields (defaults: ViT-Tiny as MAE-Lite, dim
  192, 12 blocks, 12 heads, 128/256 px, no candidate elimination) + one switch per module
  (``token``, ``mfifm``, ``mask_enhance``, ``multiscale_head``), the STM's ``stm_capacity`` and
  ``stm_rule``, and the dense-clip settings (``clip_length``, ``clip_reverse_prob``);
- network: :class:`STDTrack` = :class:`~trackkit.models.onestream.OneStreamViT` with the
  token as an ``extra_tokens`` entry, :class:`MFIFM`, :class:`SearchMask` and either OSTrack's
  :class:`~trackkit.models.heads.CenterHead` or :class:`MultiScaleCenterHead` (RepConv blocks,
  :mod:`trackkit.models.repconv`);
- training task: :class:`STDTrackTask` (clips of ``clip_length`` search frames, played
  backwards with ``clip_reverse_prob``; the token and the STM run through the clip as at
  inference; focal + GIoU + L1 on every frame);
- tracking: :class:`STDTrackTracking` (deploy = re-parameterise + eval; state = template,
  token, STM; Hanning window; records ``score``, ``quality``, ``stm_count``, ``stm_evicted``);
- presets: Table 3's five rows at paper scale (``stdtrack-{baseline,token,mfifm,mask,full}``)
  and at CPU scale (``stdtrack-cpu-*``, the backbone of :data:`trackkit.families.ostrack.CPU_MODEL`).

Readings of the paper's open points (there is no public code):

1. Token in the encoder: one token appended after the search tokens
   (``[template | search | token]``), no position embedding of its own (the paper adds the
   learnable position encodings to template and search tokens only). The first frame's input
   token is a learnable vector (``init_token``, trunc-normal std 0.02); every later frame's is
   the previous frame's output token after MFIFM (F''_{t-1}; the encoder's output F_{t-1}
   when MFIFM is off). F_t is the encoder's token output after its final LayerNorm.
2. MFIFM exactly as equation (1), with no residual connections and no MLP (none are written):
   ``F_in = LN(seq + P_fix)``, ``F' = LN(MSA(F_in))``, ``F'' = LN(MCA(Q=F'_t, K=V=F'))``, where
   ``seq`` = the current F_t followed by the STM's stored tokens (empty slots masked out of
   every attention), and F'_t is the current token's row of F'. P_fix is Vaswani's sinusoidal
   encoding of the **recency rank**: 0 for the current token, 1 for the newest stored token,
   2 for the next ... (the stored tokens are not consecutive frames under the quality rule, and
   a rank stays within the capacity, so training clips and long test sequences see the same
   positions). Heads: ``mfifm_heads`` (0 = the backbone's).
3. STM of capacity N: slots of (token F''_t, quality Q_t, frame index). Q_t = max / sum of the
   head's raw score map (equation 2, before the Hanning window). Rule ``quality``: while not
   full a new token takes the next slot; when full the new token always enters and the
   lowest-Q **stored** entry is pruned (the paper's wording), so after any update the STM holds
   the newest token plus the N-1 highest-Q tokens of all earlier frames. Rule ``fifo``: the
   oldest entry is pruned. Ties go to the first slot (argmin). With N = 1 both rules coincide.
   MFIFM reads the STM as it stood before the current frame (frames < t).
4. Mask-based enhancement: a scalar mask per search token from the (enhanced) token,
   ``m_i = sigmoid(<W_x x_i, W_t F''_t> / sqrt(D))``, applied with a residual:
   ``x_i' = x_i + m_i * x_i``. The paper says only that the mask comes from the token / search
   interaction, highlights target regions and has a residual connection.
5. Multi-scale head: OSTrack's center head with each Conv3x3+BN+ReLU replaced by a RepConv
   block (1x1, 3x3, 5x5 convs summed, one BatchNorm, ReLU: equations 3-5; ``repconv_norm=
   'branch'`` switches to RepVGG's per-branch BatchNorm); the final 1x1 convs stay.
6. Training: the clip's template is its first (earliest sampled) frame; the search frames are
   the clip's ``clip_length`` frames in playing order (reversed with ``clip_reverse_prob``);
   gradients flow through the propagated token and the stored tokens (back-propagation
   through the clip); the STM uses the preset's capacity and rule, with Q from each frame's
   score map (no gradient). Loss weights are OSTrack's (1 focal, 2 GIoU, 5 L1: the paper gives
   the form of equation 6 but not the lambdas), averaged over every frame of every clip.
   Table 3's rows all train on the same clips (the baseline's frames are independent pairs
   with a shared template), so the rows differ only by their modules.
7. Without the token (Table 3's baseline) the network is OSTrack-Tiny without candidate
   elimination; MFIFM and the mask need the token (config error otherwise).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from trackkit.crop import TrackConfig
from trackkit.families.ostrack import CPU_MODEL, CPU_TRACK, CPU_TRAIN, MAE_TINY
from trackkit.families.registry import Family, Preset, register_family, register_preset
from trackkit.models.config import BackboneConfig
from trackkit.models.heads import CenterHead, search_outputs
from trackkit.models.onestream import OneStreamViT, set_trainable
from trackkit.models.repconv import NORMS, RepConv, reparameterize_model
from trackkit.track.tracker import ModelTracker, State, Step
from trackkit.train.augment import ClipBatch
from trackkit.train.config import TrainConfig
from trackkit.train.task import OneStreamPairTask

STM_RULES = ("quality", "fifo")


@dataclass(frozen=True)
class STDTrackConfig(BackboneConfig):
    """STDTrack's network and its module switches (defaults: the full model, ViT-Tiny).

    token: the spatiotemporal token (Table 3 row 2); mfifm: MFIFM + STM (row 3; needs token);
    mask_enhance: mask-based search enhancement (row 4; needs token); multiscale_head: RepConv
    center head (row 5) with ``head_kernels`` and ``repconv_norm`` ('shared' | 'branch').
    head_channels: the center head's first conv width (halves three times).
    mfifm_heads: MFIFM attention heads (0 = num_heads).
    stm_capacity, stm_rule: the token maintainer (N; 'quality' | 'fifo'), in training and tracking.
    clip_length, clip_reverse_prob: dense training clips (search frames per clip; probability a
    clip is played backwards).
    """

    embed_dim: int = 192
    depth: int = 12
    num_heads: int = 12
    ce_loc: tuple[int, ...] = ()
    head_channels: int = 256
    token: bool = True
    mfifm: bool = True
    mask_enhance: bool = True
    multiscale_head: bool = True
    head_kernels: tuple[int, ...] = (1, 3, 5)
    repconv_norm: str = "shared"
    mfifm_heads: int = 0
    stm_capacity: int = 6
    stm_rule: str = "quality"
    clip_length: int = 8
    clip_reverse_prob: float = 0.5

    def problems(self) -> list[str]:
        p = super().problems()
        if (self.mfifm or self.mask_enhance) and not self.token:
            p.append("mfifm and mask_enhance work on the spatiotemporal token: set token=True")
        if self.stm_rule not in STM_RULES:
            p.append(f"stm_rule={self.stm_rule!r} is not one of {STM_RULES}")
        if self.stm_capacity < 1:
            p.append(f"stm_capacity={self.stm_capacity} must be >= 1")
        if self.repconv_norm not in NORMS:
            p.append(f"repconv_norm={self.repconv_norm!r} is not one of {NORMS}")
        if not self.head_kernels or any(k < 1 or k % 2 == 0 for k in self.head_kernels):
            p.append(f"head_kernels={self.head_kernels} must be odd sizes >= 1")
        heads = self.mfifm_heads or self.num_heads
        if self.embed_dim % heads:
            p.append(f"embed_dim={self.embed_dim} is not divisible by mfifm_heads={heads}")
        if self.clip_length < 1:
            p.append(f"clip_length={self.clip_length} must be >= 1")
        if not 0.0 <= self.clip_reverse_prob <= 1.0:
            p.append(f"clip_reverse_prob={self.clip_reverse_prob} must lie in [0, 1]")
        return p


# -- the spatiotemporal token maintainer (per-sequence state, fixed-size tensors) ----------------

def stm_init(batch: int, capacity: int, dim: int, device=None, dtype=torch.float32) -> State:
    """An empty STM for ``batch`` sequences: ``stm_tokens`` (B,N,D), ``stm_quality`` (B,N),
    ``stm_time`` (B,N) frame index (-1 = empty), ``stm_count`` (B,) filled slots."""
    return {"stm_tokens": torch.zeros(batch, capacity, dim, device=device, dtype=dtype),
            "stm_quality": torch.zeros(batch, capacity, device=device, dtype=dtype),
            "stm_time": torch.full((batch, capacity), -1, device=device, dtype=torch.long),
            "stm_count": torch.zeros(batch, device=device, dtype=torch.long)}


def stm_update(stm: State, token: torch.Tensor, quality: torch.Tensor, now: torch.Tensor,
               rule: str) -> tuple[State, torch.Tensor]:
    """Store ``token`` (B,D) with ``quality`` (B,) from frame ``now`` (B,) in every row's STM.

    Not full: the next free slot. Full: the new token replaces the lowest-quality stored entry
    (``quality``) or the oldest one (``fifo``). Returns the new STM and the frame index of the
    pruned entry per row (-1 when nothing was pruned). Row-wise tensor ops only (differentiable
    in the tokens), so rows never interact.
    """
    if rule not in STM_RULES:
        raise ValueError(f"stm rule {rule!r} is not one of {STM_RULES}")
    tokens, q, t, count = stm["stm_tokens"], stm["stm_quality"], stm["stm_time"], stm["stm_count"]
    n = q.shape[1]
    slots = torch.arange(n, device=q.device)
    valid = slots[None] < count[:, None]
    full = count >= n
    if rule == "quality":
        victim = torch.where(valid, q, torch.full_like(q, math.inf)).argmin(1)
    else:
        victim = torch.where(valid, t, torch.full_like(t, torch.iinfo(torch.long).max)).argmin(1)
    slot = torch.where(full, victim, count.clamp(max=n - 1))
    evicted = torch.where(full, t.gather(1, victim[:, None])[:, 0], torch.full_like(count, -1))
    hit = slots[None] == slot[:, None]
    new = {"stm_tokens": torch.where(hit[..., None], token[:, None].to(tokens.dtype), tokens),
           "stm_quality": torch.where(hit, quality.to(q.dtype)[:, None], q),
           "stm_time": torch.where(hit, now.to(t.dtype)[:, None], t),
           "stm_count": (count + 1).clamp(max=n)}
    return new, evicted


def stm_rank(stm: State) -> torch.Tensor:
    """(B,N) recency rank of each stored token: 1 = newest, 2 = the next ...; 0 = empty slot."""
    t, count = stm["stm_time"], stm["stm_count"]
    valid = torch.arange(t.shape[1], device=t.device)[None] < count[:, None]
    newer = (valid[:, None, :] & (t[:, None, :] > t[:, :, None])).sum(-1)
    return torch.where(valid, newer + 1, torch.zeros_like(newer))


def score_quality(score_map: torch.Tensor) -> torch.Tensor:
    """Equation 2: max / sum of each row's score map (B,1,H,W) -> (B,)."""
    s = score_map.flatten(1)
    return s.amax(1) / s.sum(1)


def stm_holdings(evicted) -> list[frozenset[int]]:
    """Which frames' tokens the STM holds after each frame, from a tracked sequence's
    ``stm_evicted`` record (NaN at frame 0 and where nothing was pruned; frame t >= 1 stores its
    token). Entry t is what frame t + 1's MFIFM reads."""
    held: set[int] = set()
    out = [frozenset()]
    for t, e in enumerate(np.asarray(evicted, dtype=np.float64)[1:], start=1):
        if not np.isnan(e) and e >= 0:
            if int(e) not in held:
                raise ValueError(f"stm_evicted[{t}] = {int(e)}: frame {int(e)} is not in the STM at that point")
            held.discard(int(e))
        held.add(t)
        out.append(frozenset(held))
    return out


def stm_occlusion_exposure(evicted, occluded) -> dict[str, float]:
    """How much the STM read while tracking holds tokens from frames where the target was
    occluded or absent (``occluded``: (n,) bool per frame; frame 0 is the template).

    Returns ``frames_exposed``: fraction of tracked frames t >= 2 whose STM (holdings after
    frame t-1) holds at least one such token; ``tokens_occluded``: fraction of all stored
    tokens read at those frames that come from such frames; ``frames``: frames counted."""
    occ = np.asarray(occluded, dtype=bool)
    held = stm_holdings(evicted)
    exposed, bad, total = [], 0, 0
    for t in range(2, len(held)):
        h = held[t - 1]
        n_bad = sum(bool(occ[f]) for f in h)
        exposed.append(n_bad > 0)
        bad, total = bad + n_bad, total + len(h)
    return {"frames_exposed": float(np.mean(exposed)) if exposed else float("nan"),
            "tokens_occluded": bad / total if total else float("nan"), "frames": len(exposed)}


# -- network ------------------------------------------------------------------------------------

def sinusoid(positions: torch.Tensor, dim: int) -> torch.Tensor:
    """Vaswani et al.'s fixed encoding of integer ``positions`` (...,) -> (..., dim):
    sin at even channels, cos at odd, frequencies 10000^(-2i/dim)."""
    i = torch.arange(0, dim, 2, device=positions.device, dtype=torch.float32)
    angle = positions.to(torch.float32)[..., None] * torch.exp(i * (-math.log(10000.0) / dim))
    out = torch.zeros(*positions.shape, dim, device=positions.device)
    out[..., 0::2] = torch.sin(angle)
    out[..., 1::2] = torch.cos(angle[..., : dim // 2])
    return out


class Attention(nn.Module):
    """Multi-head attention with separate q / k / v projections and a key-validity mask."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.proj = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, query: torch.Tensor, keys: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        B, Lq, D = query.shape
        split = lambda x: x.reshape(B, x.shape[1], self.heads, D // self.heads).transpose(1, 2)
        out = F.scaled_dot_product_attention(split(self.q(query)), split(self.k(keys)), split(self.v(keys)),
                                             attn_mask=valid[:, None, None, :])
        return self.proj(out.transpose(1, 2).reshape(B, Lq, D))


class MFIFM(nn.Module):
    """Multi-frame information fusion, equation (1) (reading 2 of the module docstring).

    forward(current (B,D), memory (B,N,D) or None, rank (B,N) recency ranks, 0 = empty) -> (B,D)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm_in, self.norm_sa, self.norm_ca = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.self_attn = Attention(dim, heads)
        self.cross_attn = Attention(dim, heads)

    def forward(self, current: torch.Tensor, memory: torch.Tensor | None = None,
                rank: torch.Tensor | None = None) -> torch.Tensor:
        B, D = current.shape
        seq, pos = current[:, None], torch.zeros(B, 1, dtype=torch.long, device=current.device)
        if memory is not None:
            seq, pos = torch.cat([seq, memory.to(current.dtype)], 1), torch.cat([pos, rank], 1)
        valid = torch.cat([torch.ones(B, 1, dtype=torch.bool, device=current.device), pos[:, 1:] > 0], 1)
        f_in = self.norm_in(seq + sinusoid(pos, D).to(seq.dtype))
        f1 = self.norm_sa(self.self_attn(f_in, f_in, valid))
        return self.norm_ca(self.cross_attn(f1[:, :1], f1, valid))[:, 0]


class SearchMask(nn.Module):
    """Mask-based enhancement (reading 4): ``x + sigmoid(<W_x x, W_t token> / sqrt(D)) * x``."""

    def __init__(self, dim: int):
        super().__init__()
        self.search_proj, self.token_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, search: torch.Tensor, token: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = (self.search_proj(search) * self.token_proj(token)[:, None]).sum(-1, keepdim=True)
        mask = torch.sigmoid(logits / math.sqrt(search.shape[-1]))
        return search + mask * search, mask[..., 0]


class MultiScaleCenterHead(CenterHead):
    """OSTrack's center head with every Conv3x3+BN+ReLU a :class:`RepConv` block (reading 5)."""

    def __init__(self, in_dim: int, channels: int, feat_size: int, kernels=(1, 3, 5), norm: str = "shared"):
        super().__init__(in_dim, channels, feat_size)
        ch = [in_dim, channels, channels // 2, channels // 4, channels // 8]
        for branch in ("ctr", "offset", "size"):
            for j in range(4):
                setattr(self, f"conv{j + 1}_{branch}", RepConv(ch[j], ch[j + 1], tuple(kernels), norm))
        for p in self.parameters():  # the center head's init for the new convs too
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)


class STDTrack(nn.Module):
    """``out = model(template, search, template_box=None, token=None, memory=None, memory_rank=None)``.

    token: (B,D) input spatiotemporal token (None: the learnable first-frame token); memory /
    memory_rank: the STM's (B,N,D) tokens and (B,N) recency ranks (:func:`stm_rank`). Returns the
    center head's outputs ('boxes', 'score_map', ...), 'search_feat', and with the token:
    'token' (B,D) the frame's output token (F''_t), 'token_in' (B,D) the token it got, and with
    the mask 'search_mask' (B, F*F).
    """

    def __init__(self, backbone: OneStreamViT, box_head: nn.Module, cfg: STDTrackConfig):
        super().__init__()
        self.backbone = backbone
        self.box_head = box_head
        self.cfg = cfg
        self.feat_size = cfg.feat_size
        self.head_type = "center"
        D = cfg.embed_dim
        self.init_token = nn.Parameter(nn.init.trunc_normal_(torch.zeros(1, 1, D), std=0.02)) if cfg.token else None
        self.mfifm = MFIFM(D, cfg.mfifm_heads or cfg.num_heads) if cfg.mfifm else None
        self.search_mask = SearchMask(D) if cfg.mask_enhance else None

    @classmethod
    def from_config(cls, cfg: STDTrackConfig) -> "STDTrack":
        head = (MultiScaleCenterHead(cfg.embed_dim, cfg.head_channels, cfg.feat_size, cfg.head_kernels,
                                     cfg.repconv_norm) if cfg.multiscale_head
                else CenterHead(cfg.embed_dim, cfg.head_channels, cfg.feat_size))
        model = cls(OneStreamViT.from_config(cfg), head, cfg)
        model.set_trainable(cfg.trainable)
        return model

    def set_trainable(self, spec: str) -> None:
        """Backbone switch ('all' | 'none' | 'last:N' | 'norm'); token, MFIFM, mask and head always train."""
        set_trainable(self.backbone, spec)

    def first_token(self, batch: int) -> torch.Tensor:
        return self.init_token[:, 0].expand(batch, -1)

    def forward(self, template, search, template_box=None, token=None, memory=None, memory_rank=None) -> dict:
        if self.init_token is None:
            feats = self.backbone(template, search, template_box=template_box)
            return search_outputs(self.box_head, feats, self.feat_size)
        B = template.shape[0]
        token_in = self.first_token(B) if token is None else token
        feats = self.backbone(template, search, template_box=template_box, extra_tokens=token_in[:, None])
        enhanced = feats["extra"][:, 0]
        if self.mfifm is not None:
            enhanced = self.mfifm(enhanced, memory, memory_rank)
        mask = None
        if self.search_mask is not None:
            enhanced_search, mask = self.search_mask(feats["search"], enhanced)
            feats = {**feats, "search": enhanced_search}
        out = search_outputs(self.box_head, feats, self.feat_size)
        out.update(token=enhanced, token_in=token_in)
        if mask is not None:
            out["search_mask"] = mask
        return out

    def decode(self, out: dict, window: torch.Tensor | None = None, return_score: bool = False):
        return self.box_head.decode(out, window=window, return_score=return_score)


# -- training -----------------------------------------------------------------------------------

class STDTrackTask(OneStreamPairTask):
    """Dense clips: one template, ``clip_length`` search frames (reversed with
    ``clip_reverse_prob``), the token and the STM carried through the clip (reading 6)."""

    num_templates = 1

    def __init__(self, preset: Preset):
        super().__init__(preset.train, preset.track)
        self.cfg: STDTrackConfig = preset.model
        self.num_search = self.cfg.clip_length
        self.reverse_prob = self.cfg.clip_reverse_prob

    def forward(self, net: nn.Module, batch: ClipBatch) -> dict:
        """Per-frame outputs stacked clip-major: 'boxes' (B*S,4), 'score_map' (B*S,1,F,F); with the
        token also 'token_in' / 'token' (B,S,D)."""
        z, zb, xs = batch.templates[:, 0], batch.template_boxes[:, 0], batch.search
        B, S = xs.shape[:2]
        if not self.cfg.token:  # frames are independent: one pass over every frame of every clip
            out = net(z.repeat_interleave(S, 0), xs.flatten(0, 1), template_box=zb.repeat_interleave(S, 0))
            return {"boxes": out["boxes"], "score_map": out["score_map"]}
        token, stm, outs = None, None, []
        if self.cfg.mfifm:
            stm = stm_init(B, self.cfg.stm_capacity, self.cfg.embed_dim, xs.device, xs.dtype)
        for s in range(S):
            kw = {} if stm is None else {"memory": stm["stm_tokens"], "memory_rank": stm_rank(stm)}
            out = net(z, xs[:, s], template_box=zb, token=token, **kw)
            token = out["token"]
            if stm is not None:
                now = torch.full((B,), s + 1, dtype=torch.long, device=xs.device)
                stm, _ = stm_update(stm, token, score_quality(out["score_map"].detach()), now, self.cfg.stm_rule)
            outs.append(out)
        stack = lambda k: torch.stack([o[k] for o in outs], 1)
        return {"boxes": stack("boxes").flatten(0, 1), "score_map": stack("score_map").flatten(0, 1),
                "token_in": stack("token_in"), "token": stack("token")}

    def loss(self, out: dict, batch: ClipBatch):
        return self.criterion(out, batch.search_boxes.flatten(0, 1))


# -- tracking -----------------------------------------------------------------------------------

class STDTrackTracking:
    """The :class:`~trackkit.track.tracker.TrackingPolicy` of STDTrack.

    deploy: a re-parameterised copy in eval mode. State: ``template``, ``template_box``; with
    the token ``token`` (B,D) the next frame's input token; with MFIFM the STM
    (:func:`stm_init`'s keys) and ``frame`` (B,) the last tracked frame index. Records per frame:
    ``score`` (windowed peak), ``quality`` (Q, eq. 2), and with the STM ``stm_count`` and
    ``stm_evicted`` (frame index of the pruned token, NaN when none; :func:`stm_holdings`).
    """

    def __init__(self, cfg: STDTrackConfig):
        self.cfg = cfg

    def deploy(self, model: nn.Module) -> nn.Module:
        return reparameterize_model(model)

    def init(self, tracker: ModelTracker, frames, boxes: np.ndarray) -> State:
        z, rf, _ = tracker.crop(frames, boxes, "template")
        state = {"template": z, "template_box": tracker.box_in_template(boxes, rf)}
        B, model = len(boxes), tracker.model
        if self.cfg.token:
            state["token"] = model.first_token(B).to(tracker.dtype).clone()
        if self.cfg.mfifm:
            state.update(stm_init(B, self.cfg.stm_capacity, self.cfg.embed_dim, tracker.device, tracker.dtype))
            state["frame"] = torch.zeros(B, dtype=torch.long, device=tracker.device)
        return state

    def step(self, tracker: ModelTracker, frames, state: State, prev: np.ndarray) -> Step:
        x, rf, sizes = tracker.crop(frames, prev, "search")
        model, cfg = tracker.model, self.cfg
        kw = {"token": state["token"]} if cfg.token else {}
        if cfg.mfifm:
            kw.update(memory=state["stm_tokens"], memory_rank=stm_rank(state))
        out = model(state["template"], x, template_box=state["template_box"], **kw)
        pred, score = model.decode(out, window=tracker.window, return_score=True)
        boxes = tracker.to_image(pred, prev, rf, sizes)
        quality = score_quality(out["score_map"])
        cpu = lambda t: t.detach().to("cpu", torch.float64).numpy()
        records = {"score": cpu(score), "quality": cpu(quality)}
        new = dict(state)
        if cfg.token:
            new["token"] = out["token"]
        if cfg.mfifm:
            frame = state["frame"] + 1
            stm, evicted = stm_update(state, out["token"], quality, frame, cfg.stm_rule)
            new.update(stm, frame=frame)
            ev = cpu(evicted)
            records.update(stm_count=cpu(stm["stm_count"]), stm_evicted=np.where(ev < 0, np.nan, ev))
        return Step(boxes, new, records)


def _profile(preset: Preset, model: nn.Module) -> dict:
    """``trackkit profile``'s breakdown: the training-time head and the re-parameterised one."""
    from trackkit.profiling import model_costs

    inputs = profile_inputs(preset.model)
    out = {"training head": model_costs(model.eval(), inputs)}
    if preset.model.multiscale_head:
        out["re-parameterised head"] = model_costs(reparameterize_model(model), inputs)
    return out


FAMILY = register_family(Family(
    name="stdtrack", config=STDTrackConfig, build=STDTrack.from_config, task=STDTrackTask,
    tracking=lambda preset: STDTrackTracking(preset.model),
    profile=_profile, example_inputs=lambda preset: profile_inputs(preset.model),
    description="one-stream ViT + spatiotemporal token, MFIFM, token maintainer, mask enhancement, "
                "RepConv multi-scale head (STDTrack)"))

# -- presets: Table 3's rows ----------------------------------------------------------------------
# row name -> module switches, incrementally as in Table 3
TABLE3_ROWS = {
    "baseline": dict(token=False, mfifm=False, mask_enhance=False, multiscale_head=False),
    "token": dict(token=True, mfifm=False, mask_enhance=False, multiscale_head=False),
    "mfifm": dict(token=True, mfifm=True, mask_enhance=False, multiscale_head=False),
    "mask": dict(token=True, mfifm=True, mask_enhance=True, multiscale_head=False),
    "full": dict(token=True, mfifm=True, mask_enhance=True, multiscale_head=True),
}
TABLE3_LABELS = {"baseline": "Baseline", "token": "+ spatiotemporal token", "mfifm": "+ MFIFM",
                 "mask": "+ mask-based enhancement", "full": "+ multi-scale head"}

# Paper scale: ViT-Tiny (MAE-Lite), 128 / 256 px; AdamW 4e-4 (encoder 4e-5), weight decay 1e-4,
# 500 epochs with the lr decay at 400 (the GOT-10k-only protocol: 100 / 80); clips of 8,
# max interval 200, reversed with p 0.5. Samples per epoch and batch are not given: the kit's
# OSTrack defaults (60k, 32).
PAPER_MODEL = STDTrackConfig(pretrained_source=MAE_TINY)
PAPER_TRAIN = TrainConfig(epochs=500, lr=4e-4, backbone_lr_mult=0.1, weight_decay=1e-4, lr_drop_epoch=400,
                          max_sample_interval=200)
for _row, _switches in TABLE3_ROWS.items():
    register_preset(Preset(f"stdtrack-{_row}", f"STDTrack Table 3 '{TABLE3_LABELS[_row]}': ViT-Tiny, 128/256 px",
                           "stdtrack", replace(PAPER_MODEL, **_switches), TrackConfig(), PAPER_TRAIN))

# CPU scale: the CPU backbone of trackkit.families.ostrack (dim 128, depth 4, 64/128 px; one
# `trackkit pretrain --preset ostrack-cpu` checkpoint loads via model.pretrained=...), no CE,
# head width 64, clips of 4 frames (8-frame clips cost 8 search frames per sample: too slow for
# the 2-core budget; model.clip_length=8 restores the paper's), the ostrack-cpu jitter. The
# studies start every Table 3 row from one trained CPU tracker's encoder (model.init_tracker,
# backbone lr x0.1, trackkit.study.reference) so the rows differ only in their modules and a
# few minutes of clip training suffice; the paper trains each row from MAE-Lite for 500 epochs.
# lr: the paper's 4e-4 (not the other CPU presets' 1e-3): the multi-scale head as equations 3-5
# write it (one BatchNorm after the summed branches) does not train at 1e-3 in this budget
# (studies/stdtrack_ablation.yaml's cpu profile with lr 1e-3: training IoU 0.40 / 0.42 / 0.38 /
# 0.47 over the 4 epochs, AO 19.0 against the repeat-initial-box tracker's 17.2), while it does
# at 4e-4 (AO 37.8) and so does RepVGG's per-branch BatchNorm at 1e-3 (repconv_norm='branch':
# 45.1); the center-head rows do better at 1e-3 (baseline 44.5 vs 36.0), so every row runs at
# the paper's rate and the rows differ only in their modules.
# Training seeds (measured: the full row at this budget, stdtrack_ablation's cpu split, AO %; the
# repeat-initial-box tracker scores 17.2 there): seeds 0-4 give 37.8, 12.1, 35.8, 37.3, 16.6, and
# the baseline row (OSTrack's centre head, none of STDTrack's modules) 36.0, 33.4, 27.3, 13.6,
# 33.2: a network trained for minutes with a fresh head is a lottery at this scale, STDTrack's
# modules or not. Neither twice the budget (8 epochs: seeds 0 / 1 / 4 -> 12.2 / 42.3 / 34.2) nor
# the per-branch BatchNorm at 1e-3 (seeds 0 / 1 / 3 -> 45.1 / 47.2 / 4.8) removes it. The sunk
# networks are the ones whose size head carries the previous box's size with a bias above 1
# (trackkit.track.scale: slope 0.76-0.99 and bias 1.16-1.83 for the five below 17 AO, vs
# 0.55-0.74 and 1.06-1.14 for the fifteen above 30), so their box grows frame after frame; the
# stdtrack_ablation and trackers studies record that probe.
_cpu_backbone = {f: getattr(CPU_MODEL, f) for f in BackboneConfig.__dataclass_fields__}
CPU_STD_MODEL = STDTrackConfig(**{**_cpu_backbone, "ce_loc": (), "ce_keep_ratio": 0.7}, head_channels=64,
                               clip_length=4)
CPU_STD_TRAIN = replace(CPU_TRAIN, center_jitter=1.5, epochs=6, samples_per_epoch=480, batch_size=16,
                        lr=4e-4, lr_drop_epoch=5, max_sample_interval=50)
for _row, _switches in TABLE3_ROWS.items():
    register_preset(Preset(f"stdtrack-cpu-{_row}", f"CPU-sized STDTrack Table 3 '{TABLE3_LABELS[_row]}': "
                           "dim 128, depth 4, 64/128 px", "stdtrack", replace(CPU_STD_MODEL, **_switches),
                           CPU_TRACK, CPU_STD_TRAIN))


# -- costs of Table 3's rows ----------------------------------------------------------------------

def profile_inputs(cfg: STDTrackConfig, batch: int = 1, seed: int = 0) -> tuple:
    """Positional inputs of one tracking step: template, search, template box and, with MFIFM, a
    full STM (tokens and ranks 1..N) so the cost is the steady state's."""
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(batch, 3, cfg.template_size, cfg.template_size, generator=g)
    x = torch.randn(batch, 3, cfg.search_size, cfg.search_size, generator=g)
    box = torch.tensor([[0.25, 0.25, 0.5, 0.5]]).repeat(batch, 1)
    if not cfg.token:
        return z, x, box
    token = torch.randn(batch, cfg.embed_dim, generator=g)
    if not cfg.mfifm:
        return z, x, box, token
    memory = torch.randn(batch, cfg.stm_capacity, cfg.embed_dim, generator=g)
    rank = torch.arange(1, cfg.stm_capacity + 1).repeat(batch, 1)
    return z, x, box, token, memory, rank


def profile_rows(scale: str = "paper"):
    """Params, legacy-thop MACs and FLOPs of every Table 3 row (``scale`` 'paper' or 'cpu'), with
    the training-time head and the re-parameterised head -> DataFrame, one row per (row, head)."""
    import pandas as pd

    from trackkit.profiling import model_costs

    if scale not in ("paper", "cpu"):
        raise ValueError(f"scale={scale!r}: 'paper' or 'cpu'")
    prefix = "stdtrack-" if scale == "paper" else "stdtrack-cpu-"
    rows = []
    for i, row in enumerate(TABLE3_ROWS, start=1):
        from trackkit.families.registry import get_preset

        cfg = get_preset(prefix + row).model
        torch.manual_seed(0)
        net = STDTrack.from_config(cfg).eval()
        inputs = profile_inputs(cfg)
        heads = {"training": net}
        if cfg.multiscale_head:
            heads["re-parameterised"] = reparameterize_model(net)
        for head, model in heads.items():
            rows.append({"row": i, "method": TABLE3_LABELS[row], "preset": prefix + row, "head": head,
                         **model_costs(model, inputs)})
    return pd.DataFrame(rows)


def table3_preset(row: str, scale: str = "cpu", *, clip_length: int = 0, epochs: int = 0, samples_per_epoch: int = 0,
                  batch_size: int = 0, lr: float = 0.0, pretrained: str = "", overrides=()) -> Preset:
    """The preset of Table 3's ``row`` at ``scale`` ('cpu' | 'paper') with a study's training
    budget (0 / empty: the preset's own), so two studies that name the same budget share the
    trained network (same settings key). The lr drop moves to 80% of ``epochs``, as the paper's
    400 of 500; no loader workers (a study runs one notebook per worker)."""
    from trackkit.families.registry import get_preset

    if row not in TABLE3_ROWS:
        raise ValueError(f"row={row!r} is not one of {list(TABLE3_ROWS)}")
    if scale not in ("cpu", "paper"):
        raise ValueError(f"scale={scale!r}: 'cpu' or 'paper'")
    over = ["train.num_workers=0"]
    over += [f"model.clip_length={clip_length}"] if clip_length else []
    over += [f"train.epochs={epochs}", f"train.lr_drop_epoch={max(1, int(0.8 * epochs))}"] if epochs else []
    over += [f"train.samples_per_epoch={samples_per_epoch}"] if samples_per_epoch else []
    over += [f"train.batch_size={batch_size}"] if batch_size else []
    over += [f"train.lr={lr}"] if lr else []
    over += [f"model.pretrained={pretrained}"] if pretrained else []
    return get_preset(("stdtrack-cpu-" if scale == "cpu" else "stdtrack-") + row, over + list(overrides))
