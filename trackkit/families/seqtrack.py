"""SeqTrack (Chen et al., CVPR 2023) and FastSeqTrack (Li et al.): trackers that read the box as words.

One module and one network for both families: FastSeqTrack is SeqTrack with Table 3's
switches turned (GIoU, one-pass, encoder-initialised tokens, exits), and the ablation walks
from one to the other through :class:`SeqTrackConfig`'s fields, so a second module would
duplicate every part. Two families are registered (``seqtrack``, ``fastseqtrack``) so the
presets and ``trackkit presets`` name them as the papers do.

Network (:class:`SeqTrack`), from SeqTrack's official code (microsoft/VideoX, SeqTrack/lib/models/
seqtrack/, commit 1744b2159c3d11694f94dab4fcde8660c685e79a) and FastSeqTrack's paper:
- encoder: the one-stream ViT (:class:`~trackkit.models.onestream.OneStreamViT`) over the first
  template, the search region and, as extra tokens, the further templates (each patch-embedded
  with the template position embedding) and FastSeqTrack's four tracking tokens. SeqTrack
  orders the tokens search first, then templates; trackkit's backbone puts the template first.
  Every token carries its own absolute position embedding and the encoder has no elimination
  (``ce_loc=()``), so self-attention is permutation-equivariant and the order changes nothing
  but float summation order.
- bottleneck Linear(embed_dim, decoder_dim) on the search tokens (the decoder's memory, SeqTrack's
  feature type 'x'), whose position embedding is a learnable table initialised with sinusoids;
  the tracking tokens go through the same bottleneck (reading: FastSeqTrack's Table 1 decoder
  MACs, 130.232 M, include 4 x 768 x 256 for them).
- decoder: :class:`~trackkit.models.seqdecoder.SeqDecoder` (DETR post-norm, 2 layers at 256).
- ``decoding='autoregressive'`` (SeqTrack): word embedding (bins + 2 words) + LayerNorm +
  dropout, a 5-long learnable query position table, causal mask, [START] then four steps
  (``kv_cache`` True keeps keys / values; SeqTrack's own re-runs the prefix).
- ``decoding='one_pass'``: four queries, no mask, a 4-long query position table (reading: kept
  from SeqTrack's decoder, whose layers add it to queries and keys). ``queries='learned'``: four
  learnable decoder-width vectors (Table 3 #2's "randomly generated tracking tokens", read as
  randomly initialised and learned, not redrawn per frame); ``queries='encoder'``: four
  learnable encoder-width tracking tokens that run through the encoder (#3's "initial guess").
  The paper adds a learnable position embedding to them as well; a learnable token plus a
  learnable position is one learnable vector, so there is one parameter.
- exits (``exits``): 'last' = the word head after the last layer only; 'shared' = one word head
  read before the first layer and after every layer (FastSeqTrack); 'independent' = one per
  exit (#5). Each exit reads its input through the decoder's final norm (DETR's intermediate
  outputs). The word head keeps SeqTrack's bins + 2 outputs (FastSeqTrack's Table 1 decoder
  params, 3.464 M, are SeqTrack's minus the word-embedding LayerNorm: no smaller head).
- early exit: ``tau`` (``+inf``: full depth) on ``confidence`` (see
  :mod:`trackkit.models.seqdecoder`: default 'sum' of the four top-1 windowed probabilities,
  where the paper's 1.6 is a reachable threshold).

Training (:class:`SeqTrackTask`): clips of ``num_templates`` templates + 1 search frame; the box in
the search crop as xyxy clamped to [0, 1], then cx, cy, w, h, quantised. Auto-regressive: input
[START, x, y, w, h], target [x, y, w, h, END], teacher forcing. Cross-entropy with class weight
0.01 on END / START (nn.CrossEntropyLoss's weighted mean). ``giou_weight`` > 0 adds GIoU of each
exit's box (reading: the paper does not say how a box is made differentiable from words; here
each coordinate is the expectation of its word distribution over the coordinate words). Loss:
``ce_weight * sum_l CE_l + giou_weight * sum_l GIoU_l`` over the exits (paper Eq. 1; 1 and 5).

Tracking (:class:`SeqTracking`): templates from the initial box; every frame the search crop
around the previous box, the decoder's words -> box (``t / (bins - 1)``, mapped back and
clipped), a 1-D Hanning window on the cx / cy word probabilities (``track.hanning``). Dynamic
template (SeqTrack's tracker): at frames where ``frame % update_interval == 0`` and
``10 * sum(conf) > update_threshold`` the newest template is cropped around the new box and
the oldest dynamic one dropped (the first template stays). Records: ``exit`` (0 = before the
first decoder layer; the last layer for auto-regressive decoding), ``confidence`` (the exit
confidence, ``confidence`` definition), ``template_updated``, and with
``record_decoder_time=True`` ``decoder_ms`` (the decoder's wall time for the batch the frame was
in; off by default because a time is never bit-identical between batched and sequential runs).
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, replace

import numpy as np
import torch
from torch import nn

from trackkit.boxes import box_giou, box_iou
from trackkit.crop import TrackConfig
from trackkit.families.ostrack import CPU_MODEL, CPU_TRAIN, MAE_B
from trackkit.families.registry import Family, Preset, register_family, register_preset
from trackkit.models.config import BackboneConfig
from trackkit.models.onestream import OneStreamViT, set_trainable
from trackkit.models.seqdecoder import (CONFIDENCES, NUM_COORDS, SeqDecoder, Vocabulary, WordHead,
                                        confidence_score, decode_autoregressive, decode_one_pass,
                                        hanning_window, sinusoid_table)
from trackkit.track.tracker import ModelTracker, State, Step
from trackkit.train.augment import ClipBatch, make_batch
from trackkit.train.config import TrainConfig

DECODINGS = ("autoregressive", "one_pass")
QUERIES = ("learned", "encoder")
EXITS = ("last", "shared", "independent")


@dataclass(frozen=True)
class SeqTrackConfig(BackboneConfig):
    """The backbone's fields (defaults SeqTrack-B256: ViT-B/16, 256 / 256 px, no elimination, no
    drop path) plus the decoder, vocabulary, Table 3's switches, early exit and tracking.

    num_templates: templates in the encoder (SeqTrack-B256: 2, initial + dynamic).
    decoder_dim / decoder_heads / decoder_ffn / decoder_layers / decoder_dropout: the decoder.
    bins: coordinate words (4000).
    decoding: 'autoregressive' (SeqTrack) | 'one_pass' (FastSeqTrack).
    queries: one-pass queries, 'learned' (Table 3 #2) | 'encoder' (tracking tokens, #3).
    exits: 'last' | 'shared' (#4, FastSeqTrack) | 'independent' (#5).
    tau, confidence: early termination (see the module docstring).
    kv_cache: auto-regressive decoding keeps keys / values (SeqTrack's own does not).
    ce_weight, special_weight, giou_weight: the loss (0.01 on END / START; GIoU 0 = CE only).
    update_interval, update_threshold: the dynamic template (SeqTrack's DEFAULT threshold 0.6;
      FastSeqTrack's interval 1).
    record_decoder_time: write the per-frame decoder time record.
    """

    ce_loc: tuple[int, ...] = ()
    drop_path_rate: float = 0.0
    template_size: int = 256
    search_size: int = 256
    num_templates: int = 2
    decoder_dim: int = 256
    decoder_heads: int = 8
    decoder_ffn: int = 1024
    decoder_layers: int = 2
    decoder_dropout: float = 0.1
    bins: int = 4000
    decoding: str = "autoregressive"
    queries: str = "learned"
    exits: str = "last"
    tau: float = math.inf
    confidence: str = "sum"
    kv_cache: bool = False
    ce_weight: float = 1.0
    special_weight: float = 0.01
    giou_weight: float = 0.0
    update_interval: int = 1
    update_threshold: float = 0.6
    record_decoder_time: bool = False

    def problems(self) -> list[str]:
        p = super().problems()
        for name, allowed in (("decoding", DECODINGS), ("queries", QUERIES), ("exits", EXITS),
                              ("confidence", CONFIDENCES)):
            if getattr(self, name) not in allowed:
                p.append(f"{name}={getattr(self, name)!r} is not one of {allowed}")
        if self.decoding == "autoregressive" and self.exits != "last":
            p.append("exits apply to one-pass decoding only (decoding='one_pass')")
        if self.decoding == "autoregressive" and self.queries == "encoder":
            p.append("queries='encoder' needs decoding='one_pass'")
        if self.num_templates < 1 or self.update_interval < 1:
            p.append("num_templates and update_interval must be >= 1")
        if self.bins < 2 or self.decoder_layers < 1:
            p.append("bins must be >= 2 and decoder_layers >= 1")
        if self.decoder_dim % self.decoder_heads:
            p.append(f"decoder_dim={self.decoder_dim} is not divisible by decoder_heads={self.decoder_heads}")
        if self.ce_loc:
            p.append("SeqTrack's encoder has no candidate elimination (set ce_loc=())")
        return p

    @property
    def num_exits(self) -> int:
        return 1 if self.exits == "last" else self.decoder_layers + 1


class SeqTrack(nn.Module):
    """``model(templates (B,T,3,t,t), search (B,3,s,s), seq=None)`` -> {'logits': one (B, L, V)
    tensor per exit} (training: teacher forcing for auto-regressive decoding, ``seq`` the input
    words [START, x, y, w, h]); ``model.track(templates, search, window)`` -> tracking outputs."""

    def __init__(self, cfg: SeqTrackConfig):
        super().__init__()
        self.cfg = cfg
        self.vocab = Vocabulary(cfg.bins)
        d = cfg.decoder_dim
        self.backbone = OneStreamViT.from_config(cfg)
        self.bottleneck = nn.Linear(cfg.embed_dim, d)
        self.memory_pos = nn.Parameter(sinusoid_table(cfg.feat_size ** 2, d))
        self.decoder = SeqDecoder(d, cfg.decoder_heads, cfg.decoder_ffn, cfg.decoder_layers, cfg.decoder_dropout)
        if cfg.decoding == "autoregressive":
            self.word_embed = nn.Embedding(self.vocab.size, d)
            self.embed_norm = nn.LayerNorm(d)
            self.embed_drop = nn.Dropout(cfg.decoder_dropout)
            self.query_pos = nn.Embedding(NUM_COORDS + 1, d)
        else:
            self.query_pos = nn.Embedding(NUM_COORDS, d)
            if cfg.queries == "learned":
                self.query_tokens = nn.Parameter(torch.randn(1, NUM_COORDS, d))
            else:
                self.track_tokens = nn.Parameter(nn.init.trunc_normal_(torch.empty(1, NUM_COORDS, cfg.embed_dim),
                                                                       std=0.02))
        self.heads = nn.ModuleList(WordHead(d, self.vocab.size)
                                   for _ in range(cfg.num_exits if cfg.exits == "independent" else 1))

    @classmethod
    def from_config(cls, cfg: SeqTrackConfig) -> "SeqTrack":
        model = cls(cfg)
        model.set_trainable(cfg.trainable)
        return model

    def set_trainable(self, spec: str) -> None:
        """Backbone switch ('all' | 'none' | 'last:N' | 'norm'); the rest always trains."""
        set_trainable(self.backbone, spec)

    def exit_heads(self) -> list[WordHead]:
        """The word head of every exit (the same module repeated when exits are shared)."""
        if self.cfg.exits == "independent":
            return list(self.heads)
        return [self.heads[0]] * self.cfg.num_exits

    # -- encoder ---------------------------------------------------------------------------
    def encoder_features(self, templates: torch.Tensor, search: torch.Tensor) -> dict:
        """The backbone's output dict for (B, T, 3, t, t) templates and (B, 3, s, s) search crops
        (further templates and the tracking tokens come back under 'extra', tokens last)."""
        bb = self.backbone
        extra = [bb.embed(templates[:, t]) + bb.pos_embed_z for t in range(1, templates.shape[1])]
        if self.cfg.decoding == "one_pass" and self.cfg.queries == "encoder":
            extra.append(self.track_tokens.expand(search.shape[0], -1, -1))
        return bb(templates[:, 0], search, extra_tokens=torch.cat(extra, 1) if extra else None)

    def encode(self, templates: torch.Tensor, search: torch.Tensor) -> dict:
        """-> 'memory' (B, Ns, d) bottlenecked search features, 'queries' (B, 4, d) or None."""
        return self.bottleneck_features(self.encoder_features(templates, search))

    def bottleneck_features(self, feats: dict) -> dict:
        out = {"memory": self.bottleneck(feats["search"]), "queries": None}
        if self.cfg.decoding == "one_pass":
            out["queries"] = (self.bottleneck(feats["extra"][:, -NUM_COORDS:]) if self.cfg.queries == "encoder"
                              else self.query_tokens.expand(feats["search"].shape[0], -1, -1).clone())
        return out

    # Tables handed to submodules are copies: a parameter, or a view of one made under no_grad,
    # requires grad without a gradient function, which torch's flop counter (it hooks module
    # inputs' gradient functions) rejects; a copy has a gradient function when grad is on.
    def memory_pos_view(self) -> torch.Tensor:
        return self.memory_pos.clone()

    def query_pos_table(self) -> torch.Tensor:
        return self.query_pos.weight[None].clone()

    def embed_words(self, words: torch.Tensor) -> torch.Tensor:
        return self.embed_drop(self.embed_norm(self.word_embed(words)))

    # -- forward ---------------------------------------------------------------------------
    def forward(self, templates: torch.Tensor, search: torch.Tensor, template_box: torch.Tensor | None = None,
                seq: torch.Tensor | None = None, logits: bool | None = None) -> dict:
        """``logits`` (default: ``self.training``): the training outputs {'logits': [...]} (teacher
        forcing on ``seq`` for auto-regressive decoding); otherwise tracking inference
        (:meth:`track`, no window), which is what ``trackkit profile`` counts and times. A 4-D
        ``templates`` (B, 3, t, t) is one template used for every template slot (as at a
        sequence's first frame); ``template_box`` is unused (no candidate elimination)."""
        if templates.dim() == 4:
            templates = templates[:, None].expand(-1, self.cfg.num_templates, -1, -1, -1)
        if not (self.training if logits is None else logits):
            return self.track(templates, search)
        enc = self.encode(templates, search)
        mem, qpos = enc["memory"], self.query_pos_table()
        if self.cfg.decoding == "autoregressive":
            if seq is None:
                raise ValueError("auto-regressive training needs the input words seq (B, 5)")
            h = self.decoder(self.embed_words(seq), qpos[:, :seq.shape[1]], mem, self.memory_pos_view(), causal=True)
            return {"logits": [self.heads[0](h)]}
        q = enc["queries"]
        hs = self.decoder(q, qpos, mem, self.memory_pos_view(), causal=False, all_layers=True)
        if self.cfg.exits == "last":
            return {"logits": [self.heads[0](hs[-1])]}
        inputs = [self.decoder.norm(q)] + hs
        return {"logits": [head(x) for head, x in zip(self.exit_heads(), inputs)]}

    # -- tracking ---------------------------------------------------------------------------
    def decode(self, enc: dict, window: torch.Tensor | None = None) -> dict:
        """Words, confidences, exit and normalised cx, cy, w, h boxes from :meth:`encode`'s output."""
        cfg, qpos = self.cfg, self.query_pos_table()
        if cfg.decoding == "autoregressive":
            out = decode_autoregressive(self.decoder, self.embed_words, self.heads[0], self.vocab, enc["memory"],
                                        self.memory_pos_view(), qpos, window=window, kv_cache=cfg.kv_cache)
            out["score"] = confidence_score(out["conf"], cfg.confidence)
            out["exit"] = torch.full_like(out["score"], cfg.decoder_layers, dtype=torch.long)
        else:
            # 'last': no exit before the last layer, so every layer runs and nothing else is read
            heads = self.exit_heads() if cfg.exits != "last" else [None] * cfg.decoder_layers + [self.heads[0]]
            tau = cfg.tau if cfg.exits != "last" else math.inf
            out = decode_one_pass(self.decoder, heads, self.vocab, enc["queries"], qpos, enc["memory"],
                                  self.memory_pos_view(), window=window, tau=tau, confidence=cfg.confidence)
        out["boxes"] = self.vocab.dequantize(out["words"], enc["memory"].dtype)
        return out

    def track(self, templates: torch.Tensor, search: torch.Tensor, window: torch.Tensor | None = None) -> dict:
        return self.decode(self.encode(templates, search), window)


def box_targets(search_boxes: torch.Tensor) -> torch.Tensor:
    """(B, 4) x1, y1, w, h in the search crop -> cx, cy, w, h of the xyxy box clamped to [0, 1]."""
    xyxy = torch.cat([search_boxes[:, :2], search_boxes[:, :2] + search_boxes[:, 2:]], 1).clamp(0.0, 1.0)
    return torch.cat([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]], 1)


class SeqTrackTask:
    """The training task (trackkit.train.task protocol): see the module docstring."""

    num_search = 1
    reverse_prob = 0.0

    def __init__(self, preset: Preset):
        m = preset.model
        self.cfg, self.track = m, preset.track
        self.num_templates = m.num_templates
        self.vocab = Vocabulary(m.bins)
        self.weights = self.vocab.class_weights(m.special_weight)

    def begin_epoch(self, epoch: int) -> dict:
        return {}

    def make_batch(self, specs, template_frames, search_frames, device) -> ClipBatch:
        return make_batch(specs, template_frames, search_frames, self.track, device)

    def forward(self, net: nn.Module, batch: ClipBatch):
        seq = None
        if self.cfg.decoding == "autoregressive":
            words = self.vocab.quantize(box_targets(batch.search_boxes[:, 0].float())).to(batch.search.device)
            seq = torch.cat([torch.full_like(words[:, :1], self.vocab.start), words], 1)
        return net(batch.templates, batch.search[:, 0], seq=seq, logits=True)

    def loss(self, out: dict, batch: ClipBatch):
        target_box = box_targets(batch.search_boxes[:, 0].float())
        words = self.vocab.quantize(target_box).to(target_box.device)
        if self.cfg.decoding == "autoregressive":
            words = torch.cat([words, torch.full_like(words[:, :1], self.vocab.end)], 1)
        weights = self.weights.to(target_box.device)
        ce_total, giou_total, ious = 0.0, 0.0, []
        for logits in out["logits"]:
            logits = logits.float()
            ce = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), words.reshape(-1), weight=weights)
            box = self.vocab.expectation(logits[:, :NUM_COORDS])
            giou = (1 - box_giou(box, target_box, fmt="cxcywh")).mean()
            ce_total = ce_total + ce
            giou_total = giou_total + giou
            with torch.no_grad():
                picked = self.vocab.dequantize(logits[:, :NUM_COORDS, :self.vocab.bins].argmax(-1))
                ious.append(box_iou(picked, target_box, fmt="cxcywh").mean())
        total = self.cfg.ce_weight * ce_total + self.cfg.giou_weight * giou_total
        if not torch.isfinite(total):
            raise FloatingPointError("the SeqTrack loss is not finite; stopping training")
        parts = {"ce": float(ce_total.detach()), "giou": float(giou_total.detach()), "iou": float(ious[-1]),
                 "total": float(total.detach())}
        return total, parts


class SeqTracking:
    """The tracking policy (see the module docstring). State: 'templates' (B, T, 3, t, t) and
    'frame' (B,) frames tracked so far."""

    def __init__(self, preset: Preset):
        self.cfg = preset.model
        self.window = hanning_window(self.cfg.bins) if preset.track.hanning else None

    def deploy(self, model: nn.Module) -> nn.Module:
        return model.eval()

    def init(self, tracker: ModelTracker, frames, boxes: np.ndarray) -> State:
        z, _, _ = tracker.crop(frames, boxes, "template")
        templates = z[:, None].expand(-1, self.cfg.num_templates, -1, -1, -1).contiguous()
        return {"templates": templates, "frame": np.zeros(len(boxes))}

    def step(self, tracker: ModelTracker, frames, state: State, prev: np.ndarray) -> Step:
        x, rf, sizes = tracker.crop(frames, prev, "search")
        model, window = tracker.model, self.window
        if window is not None:
            window = window.to(device=tracker.device, dtype=tracker.dtype)
        enc = model.encode(state["templates"], x)
        t0 = time.perf_counter()
        out = model.decode(enc, window)
        if tracker.device.type == "cuda":
            torch.cuda.synchronize(tracker.device)
        decoder_ms = (time.perf_counter() - t0) * 1e3
        boxes = tracker.to_image(out["boxes"], prev, rf, sizes)
        frame = state["frame"] + 1
        templates = state["templates"]
        update = np.zeros(len(boxes), dtype=bool)
        if self.cfg.num_templates > 1:
            seq_conf = out["conf"].sum(-1).to("cpu", torch.float64).numpy() * 10  # SeqTrack's update score
            update = (frame % self.cfg.update_interval == 0) & (seq_conf > self.cfg.update_threshold)
            if update.any():
                z, _, _ = tracker.crop(frames, boxes, "template")
                shifted = torch.cat([templates[:, :1], templates[:, 2:], z[:, None]], 1)
                rows = torch.as_tensor(update, device=templates.device)[:, None, None, None, None]
                templates = torch.where(rows, shifted, templates)
        records = {"exit": out["exit"].to("cpu", torch.float64).numpy(),
                   "confidence": out["score"].to("cpu", torch.float64).numpy(),
                   "template_updated": update.astype(np.float64)}
        if self.cfg.record_decoder_time:
            records["decoder_ms"] = np.full(len(boxes), decoder_ms)
        return Step(boxes, {"templates": templates, "frame": frame}, records)


def profile_parts(preset: Preset | str, model: nn.Module | None = None) -> dict:
    """Encoder / decoder / overall params and MACs at batch 1, counted as FastSeqTrack's Table 1
    (SeqTrack's tracking/profile_model.py): legacy thop, parameters of the modules that ran
    (position embeddings, tokens and embedding tables are not counted), attention matmuls not
    counted. Encoder: every template and the search image. Decoder: the bottleneck, the decoder
    and the word head once -- SeqTrack's profile runs its training forward on [START] alone;
    one-pass runs the four queries through every layer and the last exit. The official profile
    counts nn.MultiheadAttention with a custom rule (q / k / v projections + the two attention
    matmuls, no output projection); here the four projections are Linear layers and the matmuls
    are not counted: -1.0 k MACs for SeqTrack, -16 k for FastSeqTrack (both under 0.02 %).
    Values in M (params) and G (encoder / overall MACs) and M (decoder MACs), as Table 1."""
    import warnings

    from trackkit.families.recipes import build_model
    from trackkit.families.registry import get_preset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from thop import profile

    preset = get_preset(preset)
    m = preset.model
    net = (build_model(preset, load_pretrained_weights=False) if model is None else model).eval()
    g = torch.Generator().manual_seed(0)
    z = torch.randn(1, m.num_templates, 3, m.template_size, m.template_size, generator=g)
    x = torch.randn(1, 3, m.search_size, m.search_size, generator=g)
    with torch.no_grad():
        feats = net.encoder_features(z, x)

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, z, x):
            return net.encoder_features(z, x)["search"]

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, feats):
            enc = net.bottleneck_features(feats)
            mem, qpos = enc["memory"], net.query_pos_table()
            if m.decoding == "autoregressive":
                start = torch.full((1, 1), net.vocab.start, dtype=torch.long)
                return net.heads[0](net.decoder(net.embed_words(start), qpos[:, :1], mem, net.memory_pos_view(), causal=True))
            return net.exit_heads()[-1](net.decoder(enc["queries"], qpos, mem, net.memory_pos_view(), causal=False))

    e_macs, e_params = profile(Encoder(), inputs=(z, x), verbose=False)
    d_macs, d_params = profile(Decoder(), inputs=(feats,), verbose=False)
    return {"encoder_params_M": e_params / 1e6, "encoder_GMACs": e_macs / 1e9,
            "decoder_params_M": d_params / 1e6, "decoder_MMACs": d_macs / 1e6,
            "overall_params_M": (e_params + d_params) / 1e6, "overall_GMACs": (e_macs + d_macs) / 1e9}


# FastSeqTrack's Table 1 (thop convention above).
PAPER_TABLE1 = {
    "seqtrack-b256": {"encoder_params_M": 85.647, "encoder_GMACs": 65.742, "decoder_params_M": 3.465,
                      "decoder_MMACs": 120.440, "overall_params_M": 89.111, "overall_GMACs": 65.862},
    "fastseqtrack-b256": {"encoder_params_M": 85.647, "encoder_GMACs": 66.082, "decoder_params_M": 3.464,
                          "decoder_MMACs": 130.232, "overall_params_M": 89.110, "overall_GMACs": 66.212},
}

_DESCRIPTION = {"seqtrack": "one-stream ViT encoder + auto-regressive box-word decoder (SeqTrack, CVPR 2023)",
                "fastseqtrack": "SeqTrack with encoder tracking tokens, one-pass decoding and early exits "
                                "(FastSeqTrack)"}
for _name in ("seqtrack", "fastseqtrack"):
    register_family(Family(name=_name, config=SeqTrackConfig, build=SeqTrack.from_config, task=SeqTrackTask,
                           tracking=SeqTracking, description=_DESCRIPTION[_name],
                           profile=lambda preset, model: profile_parts(preset, copy.deepcopy(model))))

# -- paper scale: SeqTrack-B256 (official experiments/seqtrack/seqtrack_b256.yaml), FastSeqTrack's
# Table 1 / Sec. 4.1 (ViT-B, 256 / 256 px, 2 decoder layers, tau 1.6, GIoU weight 5) ----------
_B256 = SeqTrackConfig(pretrained_source=MAE_B)
_FAST = dict(decoding="one_pass", queries="encoder", exits="shared", tau=1.6, giou_weight=5.0)
_T256 = TrackConfig(template_size=256, template_factor=4.0, search_size=256, search_factor=4.0, hanning=True)
_TRAIN256 = TrainConfig(epochs=500, samples_per_epoch=60_000, batch_size=128, lr=1e-4, weight_decay=1e-4,
                        backbone_lr_mult=0.1, grad_clip=0.1, lr_drop_epoch=400, max_sample_interval=400,
                        center_jitter=3.5, scale_jitter=0.5, focal_weight=0.0, giou_weight=0.0, l1_weight=0.0)
register_preset(Preset("seqtrack-b256", "SeqTrack-B256: ViT-B/16, 2 x 256 px templates + 256 px search, "
                       "2-layer auto-regressive decoder, 4000 bins", "seqtrack", _B256, _T256, _TRAIN256))
register_preset(Preset("fastseqtrack-b256", "FastSeqTrack: SeqTrack-B256 + encoder tracking tokens, one-pass "
                       "decoder, shared exits (tau 1.6 on the sum reading), CE + 5 GIoU", "fastseqtrack",
                       replace(_B256, **_FAST), _T256, _TRAIN256))

# -- CPU scale: the CPU presets' backbone (ostrack.CPU_MODEL: dim 128, depth 4, 4 heads, a
# `trackkit pretrain --preset ostrack-cpu` checkpoint loads with model.pretrained=...). Departures,
# for the 2-core budget: templates 64 px at factor 2 (SeqTrack: 256 at 4.0, as large as the search
# region), so the encoder sees 16 + 16 + 64 tokens; a 128-wide, 2-layer decoder; 128 bins (one
# per search pixel; 4000 one-hot classes are not learnt in minutes). The studies start these
# presets from a trained CPU tracker's encoder (model.init_tracker, backbone lr x0.1; see
# trackkit.study.reference): from random init or the procedural MAE the decoder's four words do
# not teach the encoder to localise within the CPU budget (training IoU stays at the mean box's
# 0.12-0.17 after 250 steps; 0.53 from the tracker's encoder) --------------------------------
_BACKBONE_FIELDS = ("embed_dim", "depth", "num_heads", "template_size", "search_size", "pretrained_grid",
                    "drop_path_rate")
_CPU = SeqTrackConfig(**{k: getattr(CPU_MODEL, k) for k in _BACKBONE_FIELDS}, pretrained_source="none (random init)",
                      decoder_dim=128, decoder_heads=4, decoder_ffn=256, decoder_dropout=0.0, bins=128)
_CPU_TRACK = TrackConfig(template_size=64, search_size=128)
# 10 x 1000 pairs: the budget of studies/fastseqtrack_ablation.yaml's cpu profile (six networks of
# this size in the main job; lr x0.1 for the last fifth, as study_preset), so `trackkit train --preset
# seqtrack-cpu model.init_tracker=...` is the study's row #0. Measured with the study's split (20 x
# 60 frames, repeat-initial-box 17.7 AO): 6 x 1200 pairs left row #0 at 15.9 and row #4 at 21.1;
# 10 x 1000 gives 28.0 and 36.1 (10 x 1200: 30.3 / 36.8; 12 x 1200: 38.2 / 36.1) -- the decoder
# and its word head are still learning at every one of these budgets.
_CPU_TRAIN = replace(CPU_TRAIN, epochs=10, samples_per_epoch=1000, lr_drop_epoch=8, center_jitter=1.5,
                     focal_weight=0.0, giou_weight=0.0, l1_weight=0.0)
register_preset(Preset("seqtrack-cpu", "CPU-sized SeqTrack: dim 128, depth 4, 64/128 px, 2 templates, "
                       "2-layer auto-regressive decoder, 128 bins", "seqtrack", _CPU, _CPU_TRACK, _CPU_TRAIN))
register_preset(Preset("fastseqtrack-cpu", "CPU-sized FastSeqTrack: seqtrack-cpu + tracking tokens, one-pass, "
                       "shared exits, CE + 5 GIoU", "fastseqtrack", replace(_CPU, **_FAST), _CPU_TRACK, _CPU_TRAIN))


def study_preset(name: str, *, epochs: int, samples_per_epoch: int, batch_size: int, pretrained: str = "",
                 overrides=()) -> Preset:
    """A preset with a study's training budget (lr x0.1 for the last fifth of the epochs, as the
    paper's 400 of 500) and, optionally, a local pretrained encoder; tracking-only fields (tau,
    confidence, decoder-time records) stay at their training values so every tau shares one network."""
    from trackkit.families.registry import get_preset

    sets = [f"train.epochs={epochs}", f"train.samples_per_epoch={samples_per_epoch}",
            f"train.batch_size={batch_size}", f"train.lr_drop_epoch={max(1, math.ceil(0.8 * epochs))}",
            "model.tau=inf", "model.record_decoder_time=false", *overrides]
    if pretrained:
        sets.append(f"model.pretrained={pretrained}")
    return get_preset(name, sets)


# FastSeqTrack's Table 3 (GOT-10k) as presets: row -> (base preset, overrides, the row it is
# compared with, the paper's AO / SR0.5 / SR0.75 gain). Reading: each row adds its change to
# the row before (the text compares #2 with the auto-regressive SeqTrack, #3 with random tokens,
# #4 with layer-by-layer inference, #5 is #4 with independent exits); the caption's "compared with
# the baseline #0" cannot hold for all rows at once (#4's +0.7 would undo #3's +2.4), and the
# steps sum to +7.1 AO while Table 2's FastSeqTrack - SeqTrack gap is +3.1.
TABLE3_ROWS = {
    0: ("seqtrack-cpu", (), None, "baseline: SeqTrack (auto-regressive, CE only)", (0.0, 0.0, 0.0)),
    1: ("seqtrack-cpu", ("model.giou_weight=5.0",), 0, "+ GIoU loss", (2.4, 3.0, 2.3)),
    2: ("fastseqtrack-cpu", ("model.queries=learned", "model.exits=last"), 1, "auto-regressive -> one-pass",
        (1.6, 1.8, 2.8)),
    3: ("fastseqtrack-cpu", ("model.exits=last",), 2, "random -> initial-guess tokens", (2.4, 2.6, 3.9)),
    4: ("fastseqtrack-cpu", (), 3, "+ parameter-sharing early exits (FastSeqTrack)", (0.7, 1.2, 0.1)),
    5: ("fastseqtrack-cpu", ("model.exits=independent",), 3, "+ independent early exits", (0.7, 1.3, 0.0)),
}
