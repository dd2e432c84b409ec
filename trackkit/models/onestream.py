"""One-stream ViT backbone with OSTrack's early candidate elimination (CE).

Template and search crops are patch-embedded by one projection, each gets its own position
embedding (bicubic resamples of a pretrained grid) and the concatenated tokens
``[template | cls? | search | extra?]`` run through timm ViT blocks. Extra tokens
(SimTrack's foveal window, spatiotemporal or tracking tokens of later trackers) come in
through ``extra_tokens`` already carrying their own position embedding, and ``template_pos``
replaces the template position embedding (SimTrack's distinguishable embedding).

Candidate elimination (OSTrack, ``lib/models/ostrack/vit_ce.py`` as read in
shared/reference/trackers.md): in a CE block ``x = x + attn(norm1(x))``, then the search
tokens are scored by the attention from selected template queries (averaged over those rows,
then over heads), sorted descending and the first ``ceil(ratio * n)`` kept *in score order*;
the others are dropped. Original indices are tracked. Then ``x = x + mlp(norm2(x))``.
After the last block: final norm on the kept tokens, zeros for the removed ones, scattered
back to the original raster order.

Speed: the attention output always comes from ``scaled_dot_product_attention`` (fused); a
CE block computes on the side only the template->all-keys logits of the template rows it
needs (one row for CTR_POINT), softmaxes them over all keys and keeps the search columns.
That equals the explicit attention map's rows exactly (same logits, same softmax);
``fused_attn=False`` switches every block to the explicit map, and tests check both agree.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from timm.layers import resample_abs_pos_embed
from timm.layers import PatchEmbed
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from trackkit.errors import ConfigError

# MLP activations by config name: exact GELU (timm / MAE / OSTrack) and CLIP's QuickGELU
# x * sigmoid(1.702 x) (OpenAI CLIP, so SimTrack's backbone).
MLP_ACTIVATIONS = ("gelu", "quick_gelu")


def resample_pos(pos: torch.Tensor, grid: int) -> torch.Tensor:
    """(1, G*G, D) -> (1, grid*grid, D), OSTrack's way: bicubic, align_corners=False, no antialias."""
    g = int(round(math.sqrt(pos.shape[1])))
    return resample_abs_pos_embed(pos, [grid, grid], old_size=[g, g], num_prefix_tokens=0,
                                  interpolation="bicubic", antialias=False, align_corners=False)


def template_rows(mode: str, grid: int, template_box: torch.Tensor | None, batch: int,
                  patch_size: int, device=None) -> torch.Tensor | None:
    """Which template tokens score the search tokens.

    Returns a 1-D LongTensor of flat template indices shared by the batch (CTR_POINT,
    CTR_REC), a (B, grid*grid) bool mask (GT_BOX), or None (ALL).
    CTR_POINT: the single centre token at row/col (grid-1)//2 (flat 27 on 8x8, as the official
    ce_utils; not the paper's floor(W/2) formula). CTR_REC: the 2x2 block from there (1x1 on odd
    grids, as the official 7x7 case). GT_BOX: the official pixel mask x1:int(x1+w-1) (rows
    likewise) of the box in the template crop, bilinearly downsampled by the patch stride, any
    non-zero cell counts; an empty mask (degenerate box) falls back to the centre token.

    Where GT_BOX departs from the official code (botaoye/OSTrack lib/utils/ce_utils.py,
    generate_bbox_mask, which slices mask[int(y1):int(y1+h-1), int(x1):int(x1+w-1)] on the
    S-px template): only for a box sticking out past the left or top edge by 1 px or more
    (int(x1) <= -1; x1 in (-1, 0) truncates to 0 and agrees). There the negative slice start
    counts from the far edge, so the official mask covers px [S + int(x1), int(x1+w-1)) -- a
    strip along the right (bottom) edge when the box reaches within -int(x1) px of it, else
    nothing; a negative end counts from the far edge too. trackkit clips instead and covers
    [0, int(x1+w-1)), the part of the box inside the crop (the official behaviour is a bug).
    An official mask left empty that way gives the CE scores no template row (NaN); trackkit's
    never is, and an empty one falls back to the centre token as above.
    """
    c = (grid - 1) // 2
    if mode == "ALL":
        return None
    if mode in ("CTR_POINT", "CTR_REC"):
        n = 1 if mode == "CTR_POINT" or grid % 2 else 2
        r = torch.arange(c, c + n, device=device)
        return (r[:, None] * grid + r[None, :]).flatten()
    if mode != "GT_BOX":
        raise ConfigError(f"unknown ce_template_range {mode!r}")
    if template_box is None:
        raise ValueError("ce_template_range='GT_BOX' needs template_box (B,4) x1,y1,w,h in [0,1]")
    size = grid * patch_size
    b = template_box.detach().to(torch.float64) * size
    lo = b[:, :2].floor()
    hi = (b[:, :2] + b[:, 2:] - 1).trunc().clamp(min=0)  # int() truncation, as the official slice end
    px = torch.arange(size, device=b.device, dtype=torch.float64)
    inx = (px[None] >= lo[:, :1]) & (px[None] < hi[:, :1])
    iny = (px[None] >= lo[:, 1:]) & (px[None] < hi[:, 1:])
    pix = (iny[:, :, None] & inx[:, None, :]).float()[:, None]
    m = F.interpolate(pix, scale_factor=1.0 / patch_size, mode="bilinear", align_corners=False)
    m = m.flatten(1) > 0
    ctr = torch.zeros_like(m)
    ctr[:, c * grid + c] = True
    return torch.where(m.any(1, keepdim=True), m, ctr).to(device)


def set_trainable(backbone: "OneStreamViT", spec: str) -> None:
    """'all': everything trains; 'none': backbone frozen; 'last:N': only the last N blocks and
    the final norm train; 'norm': only LayerNorm weights train (norm-tuning)."""
    params = dict(backbone.named_parameters())
    if spec == "all":
        train = set(params)
    elif spec == "none":
        train = set()
    elif spec == "norm":
        train = {n for n, m in backbone.named_modules() if isinstance(m, nn.LayerNorm)
                 for n in (f"{n}.weight", f"{n}.bias")}
    elif spec.startswith("last:") and spec[5:].isdigit():
        k = int(spec[5:])
        first = len(backbone.blocks) - k
        train = {n for n in params if n.startswith("norm.")
                 or (n.startswith("blocks.") and int(n.split(".")[1]) >= first)}
    else:
        raise ConfigError(f"trainable={spec!r}: use 'all', 'none', 'norm' or 'last:N'")
    for n, p in params.items():
        p.requires_grad_(n in train)


@dataclass(frozen=True)
class TokenLayout:
    """Where things are in the token sequence ``h`` (B, N, D) after a block.

    ``h[:, :nz]`` template tokens, ``h[:, nz:s0]`` the class token (if any), then the
    ``n_kept = index.shape[1]`` surviving search tokens, whose raster positions (0 ..
    n_search - 1) are ``index`` (B, n_kept), in score order after a CE block; the last
    ``n_extra`` tokens are the extra tokens."""

    nz: int
    s0: int
    index: torch.Tensor
    n_search: int
    n_extra: int

    @property
    def n_kept(self) -> int:
        return self.index.shape[1]

    def search_slice(self) -> slice:
        return slice(self.s0, self.s0 + self.n_kept)


class OneStreamViT(nn.Module):
    """Joint template/search ViT with optional candidate elimination.

    forward(template (B,3,Ht,Wt), search (B,3,Hs,Ws), template_box=None, keep_rate=None,
            template_pos=None, extra_tokens=None, extra_pos=None) -> dict with
      'template' (B,Nz,D), 'cls' (B,1,D) or None, 'search' (B,Ns,D) in raster order with zeros
      at removed tokens, 'extra' (B,k,D) or None, 'keep_indices' / 'removed_indices': one
      (B,n) tensor of original search indices per CE block (kept ones in score order).
    template_pos (1 or B, Nz, D) replaces the template position embedding; extra_tokens
    (B,k,D) are appended after the search tokens (plus extra_pos (1 or B, k, D) if given),
    attend like every other token, are never eliminated and come back under 'extra'.
    keep_rate overrides the ratio of every eliminating CE block (OSTrack's training schedule;
    >= 1 disables elimination); None uses each block's own ratio.
    mlp_activation: 'gelu' (exact, timm's default) or 'quick_gelu' (CLIP); patch_bias: whether
    the patch projection has a bias (CLIP's conv1 has none); pre_norm: CLIP's ln_pre, applied
    to all tokens (template, cls, search, extra) after their position embeddings.

    Side networks and probes (timm's ``forward_intermediates`` convention):
    ``inject(i, h, layout) -> h`` is called after block ``i`` with the whole token sequence
    ``h`` (B, N_i, D) and a :class:`TokenLayout` saying where the template, search (and which
    raster positions the surviving search tokens hold) and extra tokens are; what it returns
    goes into block ``i + 1`` (an additive side network adds its features there).
    :meth:`forward_intermediates` returns the outputs of chosen blocks beside the usual dict.
    """

    def __init__(self, *, embed_dim: int, depth: int, num_heads: int, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, patch_size: int = 16, norm_eps: float = 1e-6,
                 drop_path_rate: float = 0.0, pretrained_grid: int = 14, template_size: int = 128,
                 search_size: int = 256, cls_token: bool = False, pre_norm: bool = False,
                 ce_loc: tuple[int, ...] = (), ce_keep_ratio: tuple[float, ...] = (),
                 ce_template_range: str = "CTR_POINT", fused_attn: bool = True,
                 mlp_activation: str = "gelu", patch_bias: bool = True):
        super().__init__()
        if mlp_activation not in MLP_ACTIVATIONS:
            raise ConfigError(f"mlp_activation={mlp_activation!r} is not one of {MLP_ACTIVATIONS}")

        def patch_embed_layer(**kwargs):  # timm ties the bias to pre_norm; here it is explicit
            return PatchEmbed(**(kwargs | {"bias": patch_bias}))

        # Build a stock timm ViT at the pretrained size and keep its parts: timm's own init,
        # parameter names identical to timm / MAE / OSTrack checkpoints (blocks.i.attn.qkv ...).
        # nn.LayerNorm (not timm's subclass) so legacy thop counts norms like the official model.
        vit = VisionTransformer(
            img_size=pretrained_grid * patch_size, patch_size=patch_size, num_classes=0,
            global_pool="", embed_dim=embed_dim, depth=depth, num_heads=num_heads,
            mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, class_token=cls_token, pre_norm=pre_norm,
            drop_path_rate=drop_path_rate, norm_layer=partial(nn.LayerNorm, eps=norm_eps),
            act_layer=None if mlp_activation == "gelu" else mlp_activation,
            embed_layer=patch_embed_layer)
        vit.patch_embed.strict_img_size = False  # 128/256 px crops through a 224 px embed
        self.patch_embed = vit.patch_embed
        self.norm_pre = vit.norm_pre
        self.blocks = vit.blocks
        self.norm = vit.norm
        self.patch_size = patch_size
        self.embed_dim = embed_dim
        self.num_heads = num_heads
        self.template_grid = template_size // patch_size
        self.search_grid = search_size // patch_size
        self.pretrained_grid = pretrained_grid
        pos = vit.pos_embed.detach()[:, 1 if cls_token else 0:]
        self.pos_embed_z = nn.Parameter(resample_pos(pos, self.template_grid).clone())
        self.pos_embed_x = nn.Parameter(resample_pos(pos, self.search_grid).clone())
        if cls_token:
            self.cls_token = vit.cls_token
            self.pos_embed_cls = nn.Parameter(vit.pos_embed.detach()[:, :1].clone())
        else:
            self.cls_token = None
        if len(ce_keep_ratio) != len(ce_loc):
            raise ConfigError(f"{len(ce_keep_ratio)} keep ratios for {len(ce_loc)} CE blocks")
        self.ce_ratio = {int(i): float(r) for i, r in zip(ce_loc, ce_keep_ratio)}
        self.ce_template_range = ce_template_range
        self.set_fused_attn(fused_attn)

    @classmethod
    def from_config(cls, cfg) -> "OneStreamViT":
        """The backbone a :class:`trackkit.models.config.BackboneConfig` (or a family config extending it) describes."""
        return cls(
            embed_dim=cfg.embed_dim, depth=cfg.depth, num_heads=cfg.num_heads,
            mlp_ratio=cfg.mlp_ratio, qkv_bias=cfg.qkv_bias, patch_size=cfg.patch_size,
            norm_eps=cfg.norm_eps, drop_path_rate=cfg.drop_path_rate,
            pretrained_grid=cfg.pretrained_grid, template_size=cfg.template_size,
            search_size=cfg.search_size, cls_token=cfg.cls_token, pre_norm=cfg.pre_norm,
            ce_loc=cfg.ce_loc, ce_keep_ratio=cfg.keep_ratios,
            ce_template_range=cfg.ce_template_range, fused_attn=cfg.fused_attn,
            mlp_activation=cfg.mlp_activation, patch_bias=cfg.patch_bias)

    def set_fused_attn(self, fused: bool) -> None:
        self.fused_attn = fused
        for blk in self.blocks:
            blk.attn.fused_attn = fused

    # -- embedding -----------------------------------------------------------------------
    def embed(self, img: torch.Tensor) -> torch.Tensor:
        return self.patch_embed(img)  # (B, N, D); timm flattens row-major

    def forward(self, template, search, template_box=None, keep_rate=None, template_pos=None,
                extra_tokens=None, extra_pos=None, inject=None):
        z = self.embed(template)
        x = self.embed(search)
        z = z + (self.pos_embed_z if template_pos is None else template_pos)
        x = x + self.pos_embed_x
        B, nz, ns = z.shape[0], z.shape[1], x.shape[1]
        parts = [z]
        if self.cls_token is not None:
            parts.append((self.cls_token + self.pos_embed_cls).expand(B, -1, -1))
        s0 = sum(p.shape[1] for p in parts)  # index of the first search token
        parts.append(x)
        nk = 0 if extra_tokens is None else extra_tokens.shape[1]
        if nk:
            parts.append(extra_tokens if extra_pos is None else extra_tokens + extra_pos)
        h = self.norm_pre(torch.cat(parts, dim=1))

        rows = None
        if self.ce_ratio:
            rows = template_rows(self.ce_template_range, self.template_grid, template_box,
                                 B, self.patch_size, h.device)
        index = torch.arange(ns, device=h.device).expand(B, -1)
        keep_list, removed_list = [], []
        for i, blk in enumerate(self.blocks):
            ratio = self.ce_ratio.get(i)
            if ratio is None:
                h = blk(h)
            else:
                if keep_rate is not None and ratio < 1:  # as official: only layers that eliminate
                    ratio = float(keep_rate)
                h, index, removed = self._ce_block(blk, h, index, ratio, nz, s0, rows)
                keep_list.append(index)
                removed_list.append(removed)
            if inject is not None:
                h = inject(i, h, TokenLayout(nz, s0, index, ns, nk))

        h = self.norm(h)
        n_kept = index.shape[1]
        xs = h[:, s0:s0 + n_kept]
        # zeros for removed tokens (after the norm), kept ones back at their raster positions
        search = xs.new_zeros(B, ns, xs.shape[-1]).scatter(
            1, index.unsqueeze(-1).expand(-1, -1, xs.shape[-1]), xs)
        return {
            "template": h[:, :nz],
            "cls": h[:, nz:s0] if self.cls_token is not None else None,
            "search": search,
            "extra": h[:, s0 + n_kept:] if nk else None,
            "keep_indices": keep_list,
            "removed_indices": removed_list,
        }

    def forward_intermediates(self, template, search, indices: int | list[int] | None = None, **kwargs):
        """``(out, intermediates)``: :meth:`forward`'s dict and the token sequences after the
        chosen blocks (a list of 0-based block indices, the last ``n`` blocks for an int, all
        blocks for None), each ``(h (B, N_i, D), TokenLayout)`` before the final norm."""
        depth = len(self.blocks)
        wanted = (set(range(depth)) if indices is None else
                  set(range(depth - indices, depth)) if isinstance(indices, int) else set(indices))
        bad = sorted(i for i in wanted if not 0 <= i < depth)
        if bad:
            raise ValueError(f"blocks {bad} outside the backbone's {depth} blocks")
        inner = kwargs.pop("inject", None)
        kept = []

        def collect(i, h, layout):
            if inner is not None:
                h = inner(i, h, layout)
            if i in wanted:
                kept.append((h, layout))
            return h

        return self.forward(template, search, inject=collect, **kwargs), kept

    # -- candidate elimination -----------------------------------------------------------
    def _ce_block(self, blk, h, index, ratio, nz, s0, rows):
        B, N, D = h.shape
        n = index.shape[1]
        attn_out, scores = self._attention_with_scores(blk.attn, blk.norm1(h), nz, s0, n, rows)
        h = h + blk.drop_path1(blk.ls1(attn_out))
        keep = math.ceil(ratio * n)
        if ratio < 1 and keep < n:
            order = torch.sort(scores, dim=1, descending=True).indices
            top, rest = order[:, :keep], order[:, keep:]
            kept = h[:, s0:s0 + n].gather(1, top.unsqueeze(-1).expand(-1, -1, D))
            h = torch.cat([h[:, :s0], kept, h[:, s0 + n:]], dim=1)
            removed = index.gather(1, rest)
            index = index.gather(1, top)
        else:
            removed = index[:, :0]
        h = h + blk.drop_path2(blk.ls2(blk.mlp(blk.norm2(h))))
        return h, index, removed

    def _attention_with_scores(self, attn, x, nz, s0, n, rows):
        """timm Attention's output plus (B, n) CE scores of the n current search tokens."""
        B, N, _ = x.shape
        H, hd = attn.num_heads, attn.head_dim
        qkv = attn.qkv(x).reshape(B, N, 3, H, hd).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = attn.q_norm(q), attn.k_norm(k)
        if attn.fused_attn:
            out = F.scaled_dot_product_attention(
                q, k, v, dropout_p=attn.attn_drop.p if self.training else 0.0)
            # side computation: only the needed template rows, softmax over all N keys as in
            # the full map (one row for CTR_POINT instead of an N x N map)
            qt = q[:, :, rows] if _shared(rows) else q[:, :, :nz]
            w = ((qt * attn.scale) @ k.transpose(-2, -1)).softmax(dim=-1)[..., s0:s0 + n]
        else:
            a = ((q * attn.scale) @ k.transpose(-2, -1)).softmax(dim=-1)
            w = a[:, :, rows, s0:s0 + n] if _shared(rows) else a[:, :, :nz, s0:s0 + n]
            out = attn.attn_drop(a) @ v
        scores = _mean_rows(w, rows)
        out = out.transpose(1, 2).reshape(B, N, attn.attn_dim)
        out = attn.proj_drop(attn.proj(attn.norm(out)))
        return out, scores


def _shared(rows) -> bool:
    return rows is not None and rows.dim() == 1


def _mean_rows(w: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
    """(B,H,r,n) attention rows -> (B,n): mean over the template rows, then over heads."""
    if rows is None or _shared(rows):
        return w.mean(dim=2).mean(dim=1)
    m = rows.to(w.dtype)[:, None, :, None]
    return ((w * m).sum(2) / m.sum(2)).mean(dim=1)
