"""Box-sequence decoding: a coordinate vocabulary and a DETR-style decoder (SeqTrack, FastSeqTrack, ACTrack).

Read from SeqTrack's official code (microsoft/VideoX, SeqTrack/lib/models/seqtrack/decoder.py and
seqtrack.py, commit 1744b2159c3d11694f94dab4fcde8660c685e79a) and the FastSeqTrack paper:

- :class:`Vocabulary`: ``bins`` coordinate words, END = bins, START = bins + 1. A value in
  [0, 1] (clamped) becomes ``int(v * (bins - 1))``; a word ``t`` decodes to ``t / (bins - 1)``.
  Reading: quantisation is computed in float64 with 1e-3 of a bin added before the
  truncation, so every decoded word quantises back to itself (float32 ``t / 3999 * 3999`` lands
  just below ``t`` for some ``t``); the official truncation differs only within 1e-3 bin of a
  boundary.
- :class:`DecoderLayer`: post-norm (DETR ``forward_post``): causal or mask-free self-attention
  with the query position added to queries and keys, cross-attention whose queries carry the
  query position and whose keys carry the memory position (values carry neither), a ReLU FFN,
  each followed by dropout, the residual and a LayerNorm. :class:`SeqDecoder` stacks them and
  applies one final LayerNorm (DETR's ``return_intermediate`` applies that same norm to every
  intermediate output; the exits read it that way).
- Auto-regressive decoding (:func:`decode_autoregressive`, SeqTrack's ``inference``): start
  from [START], run the decoder, read the last position's word distribution (softmax over all
  words, then only the ``bins`` coordinate words), multiply cx / cy (positions 0, 1) by a 1-D
  Hanning window, take the top-1 word and its (windowed) probability as confidence; four steps.
  ``kv_cache=False`` re-runs the whole prefix each step, as SeqTrack does; ``kv_cache=True``
  keeps every layer's self-attention keys / values of past positions and the cross-attention
  keys / values of the memory (computed once). With a causal mask both are the same function.
- One-pass decoding with exits (:func:`decode_one_pass`, FastSeqTrack): the four queries
  attend to each other without a mask; an embedding-to-word network ("exit") reads the queries
  before the first layer and the output of every layer (each through the final norm). Exits
  share one network by default or have one each. Early termination: a row stops at the first
  exit whose confidence is strictly greater than ``tau`` (the paper's ``score > tau``); the
  last exit answers otherwise. ``tau=+inf`` therefore runs every layer, ``tau=-inf`` stops at
  the first exit.
- Confidence (:data:`CONFIDENCES`): the paper's tau = 1.6 for "the average softmax score over
  the four values" cannot be a mean of probabilities (at most 1). ``'sum'`` (default): the sum
  of the four top-1 (windowed) probabilities, in [0, 4] -- tau 1.6 is then an average of 0.4,
  the reading under which the paper's number is a reachable threshold; ``'mean'``: their mean,
  in [0, 1] (tau 1.6 never exits); ``'seqtrack'``: SeqTrack's template-update score, 10x the
  sum, in [0, 40] (tau 1.6 = an average of 0.04).
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

CONFIDENCES = ("sum", "mean", "seqtrack")
NUM_COORDS = 4  # [cx, cy, w, h]
CENTER_POSITIONS = (0, 1)  # the words the Hanning window applies to


class Vocabulary:
    """``bins`` coordinate words plus END (= bins) and START (= bins + 1)."""

    def __init__(self, bins: int):
        if bins < 2:
            raise ValueError(f"bins={bins}: a vocabulary needs at least 2 coordinate words")
        self.bins = int(bins)
        self.end = self.bins
        self.start = self.bins + 1
        self.size = self.bins + 2

    def quantize(self, values: torch.Tensor) -> torch.Tensor:
        """Values (any shape) clamped to [0, 1] -> words (long), ``int(v * (bins - 1))``."""
        scaled = values.detach().to(torch.float64).clamp(0.0, 1.0) * (self.bins - 1)
        return torch.floor(scaled + 1e-3).clamp(max=self.bins - 1).long()

    def dequantize(self, words: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Words -> values ``t / (bins - 1)``."""
        return (words.to(torch.float64) / (self.bins - 1)).to(dtype)

    def expectation(self, logits: torch.Tensor) -> torch.Tensor:
        """Differentiable coordinate: the mean of ``t / (bins - 1)`` under the softmax over the
        coordinate words only (what the GIoU term trains; see the family's docstring)."""
        p = logits[..., :self.bins].float().softmax(-1)
        grid = torch.arange(self.bins, device=logits.device, dtype=p.dtype) / (self.bins - 1)
        return p @ grid

    def class_weights(self, special_weight: float = 0.01) -> torch.Tensor:
        """Cross-entropy class weights: 1 on coordinate words, ``special_weight`` on END / START."""
        w = torch.ones(self.size)
        w[self.bins:] = special_weight
        return w


def hanning_window(bins: int) -> torch.Tensor:
    """``np.hanning(bins)`` as a (bins,) float tensor (SeqTrack's window over cx / cy words)."""
    return torch.from_numpy(np.hanning(bins)).float()


def sinusoid_table(n: int, dim: int) -> torch.Tensor:
    """(1, n, dim) sin / cos table (even channels sin, odd cos), SeqTrack's init of the
    decoder's memory position embedding."""
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(dim, dtype=torch.float64)[None]
    angle = pos / torch.pow(10000.0, 2 * torch.div(i, 2, rounding_mode="floor") / dim)
    table = torch.where(i.long() % 2 == 0, torch.sin(angle), torch.cos(angle))
    return table.float()[None]


class Attention(nn.Module):
    """Multi-head attention with separate q / k / v / out projections (as nn.MultiheadAttention,
    batch first), split so keys / values can be projected once and cached."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} is not divisible by heads={heads}")
        self.heads, self.dropout = heads, dropout
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape
        return x.reshape(B, L, self.heads, D // self.heads).transpose(1, 2)

    def keys_values(self, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self._split(self.k(key)), self._split(self.v(value))

    def attend(self, query: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               mask: torch.Tensor | None = None) -> torch.Tensor:
        q = self._split(self.q(query))
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        B, H, L, hd = o.shape
        return self.out(o.transpose(1, 2).reshape(B, L, H * hd))


def causal_mask(n: int, device=None) -> torch.Tensor:
    """(n, n) bool, True where a query may attend (itself and earlier positions)."""
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


class DecoderLayer(nn.Module):
    """DETR post-norm decoder layer: self-attention, cross-attention, FFN (ReLU)."""

    def __init__(self, dim: int, heads: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.self_attn = Attention(dim, heads, dropout)
        self.cross_attn = Attention(dim, heads, dropout)
        self.linear1 = nn.Linear(dim, ffn_dim)
        self.linear2 = nn.Linear(ffn_dim, dim)
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.drop = nn.Dropout(dropout)
        self.drop1, self.drop2, self.drop3 = nn.Dropout(dropout), nn.Dropout(dropout), nn.Dropout(dropout)

    def forward(self, tgt, query_pos, memory_kv, self_kv=None, mask=None):
        """``tgt`` (B, L, D) new positions; ``memory_kv``: the cross-attention keys / values;
        ``self_kv``: cached self-attention keys / values of earlier positions (or None);
        ``mask``: the self-attention mask over (earlier + new) keys. Returns (out, (k, v)) where
        (k, v) are the self-attention keys / values of all positions so far."""
        qk = tgt + query_pos
        k, v = self.self_attn.keys_values(qk, tgt)
        if self_kv is not None:
            k, v = torch.cat([self_kv[0], k], 2), torch.cat([self_kv[1], v], 2)
        tgt = self.norm1(tgt + self.drop1(self.self_attn.attend(qk, k, v, mask)))
        tgt = self.norm2(tgt + self.drop2(self.cross_attn.attend(tgt + query_pos, *memory_kv)))
        tgt = self.norm3(tgt + self.drop3(self.linear2(self.drop(F.relu(self.linear1(tgt))))))
        return tgt, (k, v)


class SeqDecoder(nn.Module):
    """``layers`` post-norm decoder layers and the final LayerNorm. Xavier-uniform init of every
    matrix, as SeqTrack's decoder."""

    def __init__(self, dim: int = 256, heads: int = 8, ffn_dim: int = 1024, layers: int = 2,
                 dropout: float = 0.1):
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(dim, heads, ffn_dim, dropout) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)
        for p in self.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def memory_kv(self, memory: torch.Tensor, memory_pos: torch.Tensor) -> list:
        """Each layer's cross-attention keys (memory + position) and values (memory)."""
        return [layer.cross_attn.keys_values(memory + memory_pos, memory) for layer in self.layers]

    def forward(self, tgt, query_pos, memory, memory_pos, causal: bool, all_layers: bool = False):
        """Whole sequence at once: ``tgt`` (B, L, D). Returns the normed output of the last layer
        (B, L, D), or with ``all_layers`` a list of the normed outputs of every layer."""
        mask = causal_mask(tgt.shape[1], tgt.device) if causal else None
        outs = []
        for layer, kv in zip(self.layers, self.memory_kv(memory, memory_pos)):
            tgt, _ = layer(tgt, query_pos, kv, mask=mask)
            if all_layers:
                outs.append(self.norm(tgt))
        return outs if all_layers else self.norm(tgt)


class WordHead(nn.Module):
    """Embedding-to-word network: MLP(dim, dim, vocab, 3 layers, ReLU), SeqTrack's ``vocab_embed``."""

    def __init__(self, dim: int, vocab: int, num_layers: int = 3):
        super().__init__()
        sizes = [dim] * num_layers + [vocab]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.relu(x)
        return x


def pick_words(logits: torch.Tensor, vocab: Vocabulary, window: torch.Tensor | None,
               positions: tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """SeqTrack's pick from (B, L, V) logits whose L positions are ``positions`` of the box:
    softmax over every word, keep the coordinate words, window cx / cy, top-1. Returns the
    words (B, L) and their (windowed) probabilities (B, L)."""
    p = logits.softmax(-1)[..., :vocab.bins]
    if window is not None:
        centre = torch.tensor([pos in CENTER_POSITIONS for pos in positions], device=p.device)
        p = torch.where(centre[None, :, None], p * window.to(p.dtype), p)
    conf, words = p.max(-1)
    return words, conf


def confidence_score(conf: torch.Tensor, definition: str) -> torch.Tensor:
    """(B, 4) top-1 probabilities -> (B,) exit confidence (see :data:`CONFIDENCES`)."""
    if definition == "sum":
        return conf.sum(-1)
    if definition == "mean":
        return conf.mean(-1)
    if definition == "seqtrack":
        return conf.sum(-1) * 10
    raise ValueError(f"confidence={definition!r} is not one of {CONFIDENCES}")


def decode_autoregressive(decoder: SeqDecoder, embed, head: WordHead, vocab: Vocabulary,
                          memory: torch.Tensor, memory_pos: torch.Tensor, query_pos: torch.Tensor,
                          window: torch.Tensor | None = None, kv_cache: bool = False) -> dict:
    """Four auto-regressive steps from [START]. ``embed(words) -> (B, L, D)``; ``query_pos``
    (1, >=5, D). Returns 'words' (B, 4), 'conf' (B, 4) windowed top-1 probabilities."""
    B = memory.shape[0]
    seq = torch.full((B, 1), vocab.start, dtype=torch.long, device=memory.device)
    confs = []
    if kv_cache:
        mem_kv = decoder.memory_kv(memory, memory_pos)
        caches = [None] * len(decoder.layers)
    for i in range(NUM_COORDS):
        if kv_cache:  # only the newest position goes through the layers
            h = embed(seq[:, -1:])
            qpos = query_pos[:, i:i + 1]
            for j, layer in enumerate(decoder.layers):
                h, caches[j] = layer(h, qpos, mem_kv[j], self_kv=caches[j])
            last = decoder.norm(h)[:, -1:]
        else:  # SeqTrack: the whole prefix again, causal mask
            last = decoder(embed(seq), query_pos[:, :seq.shape[1]], memory, memory_pos, causal=True)[:, -1:]
        words, conf = pick_words(head(last), vocab, window, (i,))
        seq = torch.cat([seq, words], 1)
        confs.append(conf)
    return {"words": seq[:, 1:], "conf": torch.cat(confs, 1)}


def decode_one_pass(decoder: SeqDecoder, heads, vocab: Vocabulary, queries: torch.Tensor,
                    query_pos: torch.Tensor, memory: torch.Tensor, memory_pos: torch.Tensor,
                    window: torch.Tensor | None = None, tau: float = math.inf,
                    confidence: str = "sum") -> dict:
    """Mask-free one-pass decoding of the four ``queries`` (B, 4, D) with exits.

    ``heads``: one :class:`WordHead` per exit (exit 0 reads the queries, exit l the output of
    layer l; pass the same module several times for shared exits; None where there is no exit,
    e.g. ``[None, None, head]`` for a decoder read after its last layer only). A row exits at the first
    exit whose confidence > ``tau``; layers run while any row is still going, and a row's
    result never depends on the others. Returns 'words' (B, 4), 'conf' (B, 4), 'score' (B,)
    the exit confidence, 'exit' (B,) long, the exit each row answered from (0 = before the
    first layer), 'layers_run' the number of decoder layers that ran for the batch."""
    if len(heads) != len(decoder.layers) + 1 or heads[-1] is None:
        raise ValueError(f"{len(heads)} exits for {len(decoder.layers)} layers (need layers + 1, the last not None)")
    B = queries.shape[0]
    positions = tuple(range(NUM_COORDS))
    mem_kv = None
    h = queries
    done = torch.zeros(B, dtype=torch.bool, device=queries.device)
    out = None
    layers_run = 0
    for l, head in enumerate(heads):
        if l:
            if mem_kv is None:
                mem_kv = decoder.memory_kv(memory, memory_pos)
            h, _ = decoder.layers[l - 1](h, query_pos, mem_kv[l - 1])
            layers_run = l
        if head is None:
            continue
        words, conf = pick_words(head(decoder.norm(h)), vocab, window, positions)
        score = confidence_score(conf, confidence)
        exit_l = torch.full((B,), l, dtype=torch.long, device=h.device)
        cur = {"words": words, "conf": conf, "score": score, "exit": exit_l}
        if out is None:
            out = cur
        else:  # rows that exited earlier keep their answer
            out = {k: torch.where(done.view(-1, *[1] * (v.dim() - 1)), out[k], v) for k, v in cur.items()}
        done = done | (score > tau)
        if bool(done.all()):
            break
    out["layers_run"] = layers_run
    return out
