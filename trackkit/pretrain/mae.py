"""The masked autoencoder around a tracker preset's ViT (He et al., MAE).

Read from facebookresearch/mae (``models_mae.py``, ``util/pos_embed.py``, commit efb2a80) and
wangsr126/mae-lite (``projects/mae_lite/models_mae.py``, commit f3090d4); re-derived here:

- Encoder: the tracker's own parts (patch projection, optional class token, ``norm_pre``,
  timm blocks, final norm) taken from :class:`trackkit.models.OneStreamViT` built with the
  preset's dims, so the state-dict names and modules are the tracker backbone's. Its position
  embedding is MAE's fixed 2-D sin-cos table on the pretraining grid (a zero row for the class
  token), frozen as in MAE.
- Masking: per sample, uniform noise, argsort ascending, the first ``int(L * (1 - ratio))``
  patches stay (MAE's ``random_masking``). The noise comes from an explicit generator.
- Only the visible patches are embedded: the patches are cut out (unfold, the conv's
  (channel, row, column) order), gathered, then projected with the conv's weights as a linear
  map. That is the conv's arithmetic on those patches, and masked pixels never enter the
  encoder at all (MAE embeds every patch and then drops the masked tokens; same result).
- Decoder: Linear to ``decoder_dim``, mask tokens, unshuffle, fixed sin-cos embedding, timm
  blocks, norm, Linear to ``patch**2 * 3`` pixels in MAE's (row, column, channel) order.
- Loss: MSE against per-patch normalised pixels (``norm_pix_loss``: mean / (var + 1e-6)**0.5
  with the unbiased variance, as MAE), averaged per patch, then over masked patches only.
- Initialisation as MAE: xavier-uniform for every Linear and for the patch projection seen as
  a Linear, zero biases, unit LayerNorms, class and mask tokens N(0, 0.02).
"""
from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from timm.models.vision_transformer import Block
from torch import nn

from trackkit.errors import ConfigError
from trackkit.models.onestream import OneStreamViT
from trackkit.pretrain.config import PretrainConfig


def sincos_pos_embed(dim: int, grid: int, cls_token: bool) -> torch.Tensor:
    """MAE's fixed 2-D table, (1, [1+]grid*grid, dim): the first half of the channels encodes
    the column, the second half the row, each as [sin(p w_k), cos(p w_k)] with
    w_k = 10000**(-k / (dim/4)); a class token gets a zero row in front."""
    if dim % 4:
        raise ValueError(f"sin-cos position embedding needs a dim divisible by 4, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 4, dtype=torch.float64) / (dim / 4))
    coord = torch.arange(grid, dtype=torch.float64)
    col = coord.repeat(grid)  # raster order: column varies fastest
    row = coord.repeat_interleave(grid)

    def encode(pos):
        angles = pos[:, None] * omega[None]
        return torch.cat([angles.sin(), angles.cos()], dim=1)

    table = torch.cat([encode(col), encode(row)], dim=1)
    if cls_token:
        table = torch.cat([table.new_zeros(1, dim), table])
    return table.float()[None]


def random_masking(batch: int, length: int, ratio: float, noise: torch.Tensor | None = None,
                   generator: torch.Generator | None = None, device=None):
    """MAE's per-sample masking -> (ids_keep (B, n_keep), mask (B, L) 1 = removed, ids_restore)."""
    if noise is None:
        noise = torch.rand(batch, length, generator=generator, device=device)
    n_keep = int(length * (1 - ratio))
    ids_shuffle = torch.argsort(noise, dim=1)  # small noise stays
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    mask = torch.ones(batch, length, device=noise.device)
    mask[:, :n_keep] = 0
    mask = torch.gather(mask, 1, ids_restore)
    return ids_shuffle[:, :n_keep], mask, ids_restore


# The tracker ViT's fields an MAE encoder needs (model configs of every family carry them;
# mlp_activation / patch_bias only in configs that have CLIP-style backbones).
BACKBONE_FIELDS = ("embed_dim", "depth", "num_heads", "mlp_ratio", "qkv_bias", "patch_size", "norm_eps",
                   "pretrained_grid", "pre_norm", "mlp_activation", "patch_bias")


def backbone_fields(model_cfg) -> dict:
    """The backbone fields ``model_cfg`` has (JSON-able; :class:`MaskedAutoencoder` takes them)."""
    return {n: getattr(model_cfg, n) for n in BACKBONE_FIELDS if hasattr(model_cfg, n)}


class MaskedAutoencoder(nn.Module):
    """MAE with a tracker's ViT as encoder.

    forward(imgs (B,3,S,S) normalised, generator=None, noise=None) -> (loss, pred (B,L,p*p*3),
    mask (B,L)). ``noise`` (B,L) fixes the masks (tests, figures); otherwise it is drawn from
    ``generator``. State-dict names are timm's / MAE's: ``patch_embed.proj.*``, ``cls_token``,
    ``pos_embed``, ``blocks.i.*``, ``norm.*`` and ``decoder_*`` / ``mask_token``.
    """

    def __init__(self, backbone: dict, *, cls_token: bool = True, decoder_dim: int = 64,
                 decoder_depth: int = 1, decoder_heads: int = 2, mask_ratio: float = 0.75,
                 norm_pix_loss: bool = True):
        """``backbone``: the tracker ViT's fields (:func:`backbone_fields` of a model config)."""
        super().__init__()
        unknown = sorted(set(backbone) - set(BACKBONE_FIELDS))
        if unknown:
            raise ConfigError(f"unknown backbone fields {unknown}; known: {', '.join(BACKBONE_FIELDS)}")
        b = dict(backbone)
        g, p, d = b.pop("pretrained_grid"), b["patch_size"], b["embed_dim"]
        self.grid, self.patch_size, self.img_size = g, p, g * p
        self.mask_ratio, self.norm_pix_loss = mask_ratio, norm_pix_loss
        # the tracker's backbone at the pretraining size; its modules become the encoder
        vit = OneStreamViT(**b, drop_path_rate=0.0, pretrained_grid=g, template_size=g * p,
                           search_size=g * p, cls_token=cls_token)
        self.patch_embed = vit.patch_embed
        self.cls_token = vit.cls_token  # None without a class token
        self.pos_embed = nn.Parameter(sincos_pos_embed(d, g, cls_token), requires_grad=False)
        self.norm_pre = vit.norm_pre
        self.blocks = vit.blocks
        self.norm = vit.norm

        norm = partial(nn.LayerNorm, eps=b["norm_eps"])
        self.decoder_embed = nn.Linear(d, decoder_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, decoder_dim))
        self.decoder_pos_embed = nn.Parameter(sincos_pos_embed(decoder_dim, g, cls_token),
                                              requires_grad=False)
        self.decoder_blocks = nn.ModuleList(
            Block(decoder_dim, decoder_heads, b["mlp_ratio"], qkv_bias=True, norm_layer=norm)
            for _ in range(decoder_depth))
        self.decoder_norm = norm(decoder_dim)
        self.decoder_pred = nn.Linear(decoder_dim, p * p * 3)
        self._init_weights()

    @classmethod
    def build(cls, backbone: dict, cfg: PretrainConfig) -> "MaskedAutoencoder":
        dim, heads = cfg.decoder_size(backbone["embed_dim"])
        return cls(backbone, cls_token=cfg.cls_token, decoder_dim=dim,
                   decoder_depth=cfg.decoder_depth, decoder_heads=heads,
                   mask_ratio=cfg.mask_ratio, norm_pix_loss=cfg.norm_pix_loss)

    def _init_weights(self) -> None:
        w = self.patch_embed.proj.weight
        nn.init.xavier_uniform_(w.data.view(w.shape[0], -1))
        if self.patch_embed.proj.bias is not None:
            nn.init.zeros_(self.patch_embed.proj.bias)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @property
    def num_prefix(self) -> int:
        return 0 if self.cls_token is None else 1

    # -- pixels <-> patches ----------------------------------------------------------------
    def patchify(self, imgs: torch.Tensor) -> torch.Tensor:
        """(B,3,S,S) -> (B, L, p*p*3), MAE's (row, column, channel) order within a patch."""
        B, C, H, W = imgs.shape
        p = self.patch_size
        if H != W or H % p:
            raise ValueError(f"images must be square multiples of {p} px, got {H}x{W}")
        h = H // p
        x = imgs.reshape(B, C, h, p, h, p).permute(0, 2, 4, 3, 5, 1)
        return x.reshape(B, h * h, p * p * C)

    def unpatchify(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`patchify`."""
        B, L, _ = x.shape
        p, h = self.patch_size, int(round(L ** 0.5))
        x = x.reshape(B, h, h, p, p, 3).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(B, 3, h * p, h * p)

    def target(self, imgs: torch.Tensor) -> torch.Tensor:
        t = self.patchify(imgs)
        if self.norm_pix_loss:
            mean = t.mean(dim=-1, keepdim=True)
            var = t.var(dim=-1, keepdim=True)
            t = (t - mean) / (var + 1e-6) ** 0.5
        return t

    # -- model -----------------------------------------------------------------------------
    def forward_encoder(self, imgs: torch.Tensor, ids_keep: torch.Tensor) -> torch.Tensor:
        """Encode only the patches in ``ids_keep`` -> (B, [1+]n_keep, D) after the final norm."""
        if imgs.shape[-1] != self.img_size or imgs.shape[-2] != self.img_size:
            raise ValueError(f"the encoder pretrains at {self.img_size} px, got {tuple(imgs.shape[-2:])}")
        proj = self.patch_embed.proj
        cols = F.unfold(imgs, kernel_size=self.patch_size, stride=self.patch_size).transpose(1, 2)
        visible = torch.gather(cols, 1, ids_keep[..., None].expand(-1, -1, cols.shape[-1]))
        x = F.linear(visible, proj.weight.flatten(1), proj.bias)
        x = self.patch_embed.norm(x)
        pos = self.pos_embed[:, self.num_prefix:].expand(x.shape[0], -1, -1)
        x = x + torch.gather(pos, 1, ids_keep[..., None].expand(-1, -1, x.shape[-1]))
        if self.cls_token is not None:
            cls = (self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
            x = torch.cat([cls, x], dim=1)
        x = self.norm_pre(x)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

    def forward_decoder(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        x = self.decoder_embed(latent)
        B, L, D = x.shape[0], ids_restore.shape[1], x.shape[2]
        k = self.num_prefix
        visible = x[:, k:]
        mask_tokens = self.mask_token.expand(B, L - visible.shape[1], -1)
        x_ = torch.cat([visible, mask_tokens], dim=1)
        x_ = torch.gather(x_, 1, ids_restore[..., None].expand(-1, -1, D))  # unshuffle
        x = torch.cat([x[:, :k], x_], dim=1) + self.decoder_pos_embed
        for blk in self.decoder_blocks:
            x = blk(x)
        return self.decoder_pred(self.decoder_norm(x))[:, k:]

    def loss(self, imgs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        per_patch = ((pred - self.target(imgs)) ** 2).mean(dim=-1)
        return (per_patch * mask).sum() / mask.sum()

    def forward(self, imgs: torch.Tensor, generator: torch.Generator | None = None,
                noise: torch.Tensor | None = None):
        ids_keep, mask, ids_restore = random_masking(
            imgs.shape[0], self.grid * self.grid, self.mask_ratio, noise=noise,
            generator=generator, device=imgs.device)
        latent = self.forward_encoder(imgs, ids_keep)
        pred = self.forward_decoder(latent, ids_restore)
        return self.loss(imgs, pred, mask), pred, mask

    def encoder_state_dict(self) -> dict[str, torch.Tensor]:
        """The state dict without the decoder (what a tracker backbone loads)."""
        return {k: v for k, v in self.state_dict().items()
                if not k.startswith(("decoder", "mask_token"))}

