"""Model settings: frozen dataclasses that fully describe a network.

:class:`BackboneConfig` holds the one-stream ViT's fields (:class:`~trackkit.models.onestream.
OneStreamViT`: dims, crops, candidate elimination, pretrained weights, trainable switch); each
tracker family's config subclasses it and adds its own fields, so every family shares the
backbone's names, validation and override keys (``model.embed_dim=...``). Every field is an
explicit constructor argument of a module; named combinations are the presets of
:mod:`trackkit.families`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from trackkit.errors import ConfigError
from trackkit.models.onestream import MLP_ACTIVATIONS

CE_TEMPLATE_RANGES = ("CTR_POINT", "CTR_REC", "ALL", "GT_BOX")


@dataclass(frozen=True)
class BackboneConfig:
    """The one-stream ViT (defaults: OSTrack-B/256's, with candidate elimination).

    Backbone (timm ViT blocks; any size through explicit dims)
      embed_dim, depth, num_heads, mlp_ratio, qkv_bias, patch_size, norm_eps
      mlp_activation: 'gelu' (exact GELU: timm, MAE, OSTrack) or 'quick_gelu'
        (x * sigmoid(1.702 x): OpenAI CLIP, so SimTrack).
      patch_bias: bias in the patch projection (CLIP's conv1 has none).
      drop_path_rate: stochastic depth, linspace(0, rate, depth) as timm builds it.
      pretrained_grid: side of the position-embedding grid of the pretrained ViT (14 for
        224 px / 16); pos embeds of template and search are bicubic resamples of it.
      cls_token: add a class token (SimTrack: token order [template | cls | search | foveal]).
      pre_norm: LayerNorm over all tokens before the blocks (CLIP's ln_pre).
    Inputs
      template_size, search_size: crop sides in px (must be multiples of patch_size).
    Candidate elimination (OSTrack)
      ce_loc: 0-based block indices holding a CE module; empty = no CE.
      ce_keep_ratio: one ratio for every CE block, or one per block (same length as ce_loc).
      ce_template_range: template rows whose attention scores the search tokens.
    Weights and training
      pretrained: local path of a timm / MAE / ``trackkit pretrain`` ViT checkpoint to load
        (None = random init).
      pretrained_source: what file the paper used, for error messages and `presets`.
      init_tracker: local trackkit weights file of a trained one-stream tracker (``trackkit
        train ... model.pth`` of e.g. ``ostrack-cpu-noce``) whose ``backbone.*`` tensors this
        backbone starts from, exactly ('' = none; exclusive with ``pretrained``). The CPU-scale
        presets of the decoder families use it: their box decoders give the encoder too weak a
        signal to learn localisation in minutes from an MAE init (see the families' docstrings).
      trainable: 'all' | 'none' | 'last:N' | 'norm' -- which backbone parameters train
        (heads and tracker-specific modules always train); see models.onestream.set_trainable.
      fused_attn: use scaled_dot_product_attention wherever no attention map is needed.
    """

    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0
    qkv_bias: bool = True
    patch_size: int = 16
    norm_eps: float = 1e-6
    mlp_activation: str = "gelu"
    patch_bias: bool = True
    drop_path_rate: float = 0.1
    pretrained_grid: int = 14
    cls_token: bool = False
    pre_norm: bool = False
    template_size: int = 128
    search_size: int = 256
    ce_loc: tuple[int, ...] = (3, 6, 9)
    ce_keep_ratio: float | tuple[float, ...] = 0.7
    ce_template_range: str = "CTR_POINT"
    pretrained: str | None = None
    pretrained_source: str = ""
    trainable: str = "all"
    fused_attn: bool = True
    init_tracker: str = ""

    def __post_init__(self):
        problems = self.problems()
        if problems:
            raise ConfigError(f"invalid {type(self).__name__}: " + "; ".join(problems))

    # -- derived -------------------------------------------------------------------------
    @property
    def template_grid(self) -> int:
        return self.template_size // self.patch_size

    @property
    def feat_size(self) -> int:
        return self.search_size // self.patch_size

    @property
    def keep_ratios(self) -> tuple[float, ...]:
        r = self.ce_keep_ratio
        return tuple(float(x) for x in r) if isinstance(r, tuple) else (float(r),) * len(self.ce_loc)

    def ce_token_counts(self, keep_rate: float | None = None) -> list[int]:
        """Search tokens after each CE block: OSTrack's ceil rule (256 -> 180 -> 126 -> 89)."""
        n, out = self.feat_size**2, [self.feat_size**2]
        for r in self.keep_ratios:
            r = r if keep_rate is None else keep_rate
            if r < 1:
                n = math.ceil(r * n)
            out.append(n)
        return out

    def problems(self) -> list[str]:
        """What is wrong with these settings (empty when valid); subclasses extend it."""
        p = []
        if self.pretrained and self.init_tracker:
            p.append("set pretrained (a ViT checkpoint) or init_tracker (a trained tracker), not both")
        if self.ce_template_range not in CE_TEMPLATE_RANGES:
            p.append(f"ce_template_range={self.ce_template_range!r} is not one of {CE_TEMPLATE_RANGES}")
        if self.mlp_activation not in MLP_ACTIVATIONS:
            p.append(f"mlp_activation={self.mlp_activation!r} is not one of {MLP_ACTIVATIONS}")
        if self.embed_dim % self.num_heads:
            p.append(f"embed_dim={self.embed_dim} is not divisible by num_heads={self.num_heads}")
        for name in ("template_size", "search_size"):
            v = getattr(self, name)
            if v < 0 or v % self.patch_size:
                p.append(f"{name}={v} is not a non-negative multiple of patch_size={self.patch_size}")
        if self.template_size <= 0 or self.search_size <= 0:
            p.append("template_size and search_size must be positive")
        bad = [i for i in self.ce_loc if not 0 <= i < self.depth]
        if bad:
            p.append(f"ce_loc {bad} outside the {self.depth} blocks (0-based)")
        if list(self.ce_loc) != sorted(set(self.ce_loc)):
            p.append(f"ce_loc={self.ce_loc} must be strictly increasing")
        if isinstance(self.ce_keep_ratio, tuple) and len(self.ce_keep_ratio) != len(self.ce_loc):
            p.append(f"ce_keep_ratio has {len(self.ce_keep_ratio)} values for {len(self.ce_loc)} CE blocks")
        if any(not 0 < r <= 1 for r in self.keep_ratios):
            p.append(f"ce_keep_ratio={self.ce_keep_ratio} must lie in (0, 1]")
        t = self.trainable
        if not (t in ("all", "none", "norm") or (t.startswith("last:") and t[5:].isdigit())):
            p.append(f"trainable={t!r}: use 'all', 'none', 'norm' or 'last:N'")
        return p
