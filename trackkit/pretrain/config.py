"""Pretraining settings: one frozen dataclass, overridable as ``pretrain.<field>=<value>``.

The ViT itself (dims, patch size, position grid) is not here: it comes from the tracker
preset's model config, so the pretrained encoder is the tracker's backbone. Defaults are
MAE's / MAE-Lite's recipe where it applies and the CPU budget where it cannot (see
:mod:`trackkit.pretrain` for what was taken and why).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from trackkit.errors import ConfigError
from trackkit.models.overrides import apply_overrides

CROP_KINDS = ("template", "search", "away", "resized")


@dataclass(frozen=True)
class PretrainConfig:
    """Masked-autoencoder pretraining of a preset's ViT.

    Schedule and optimiser (MAE ``main_pretrain.py`` / ``util/lr_sched.py``)
      epochs, samples_per_epoch, batch_size
      base_lr: lr = base_lr * batch_size / 256 (MAE's blr; MAE-Lite 1.5e-4 at batch 4096).
      min_lr, warmup_epochs: linear warm-up then half-cycle cosine, set every iteration.
      weight_decay, betas: AdamW; biases and 1-D parameters (norms) get no weight decay.
    MAE
      mask_ratio: fraction of patches removed per sample (argsort of uniform noise).
      norm_pix_loss: reconstruct per-patch normalised pixels.
      cls_token: the encoder carries a class token (MAE does; the checkpoint then loads into
        trackers with and without one).
      decoder_dim, decoder_depth, decoder_heads: the light decoder. MAE-Lite's for ViT-Tiny
        is half the encoder width, one block, 32-dim heads; 0 for decoder_dim / decoder_heads
        means exactly that for the preset's ViT (dim 128 -> 64 wide, 2 heads).
    Images (``--images`` folders use only 'resized' crops; an epoch there is
      ``samples_per_epoch`` crops in a fresh random order of the files: set it to the number of
      files for MAE's epochs)
      crop_mix: weights of the crop kinds (template, search, away, resized): around the target
        at the tracker's template / search scale, a search-scale crop centred elsewhere in the
        frame, and MAE's random resized crop of the whole frame.
      crop_scale, crop_ratio: RandomResizedCrop's area fraction and aspect ranges.
      jitter: centre jitter of template / search crops, in crop sides (uniform +-jitter/2).
      hflip: probability of a horizontal flip.
      synth_frames_per_scene, synth_crops_per_frame: one procedural scene is planned (its
        textures are the expensive part) and this many frames x crops are taken from it.
      num_workers: DataLoader processes that render / decode (0: in the main process).
    """

    epochs: int = 6
    samples_per_epoch: int = 6144
    batch_size: int = 128
    base_lr: float = 1.5e-3
    min_lr: float = 0.0
    warmup_epochs: float = 1.0
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.95)
    mask_ratio: float = 0.75
    norm_pix_loss: bool = True
    cls_token: bool = True
    decoder_dim: int = 0
    decoder_depth: int = 1
    decoder_heads: int = 0
    crop_mix: tuple[float, float, float, float] = (0.25, 0.25, 0.25, 0.25)
    crop_scale: tuple[float, float] = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (0.75, 4.0 / 3.0)
    jitter: float = 0.5
    hflip: float = 0.5
    synth_frames_per_scene: int = 2
    synth_crops_per_frame: int = 8
    num_workers: int = 1

    def __post_init__(self):
        p = []
        if self.epochs < 1 or self.samples_per_epoch < 1 or self.batch_size < 1:
            p.append("epochs, samples_per_epoch and batch_size must be >= 1")
        if self.samples_per_epoch % self.batch_size:
            p.append(f"samples_per_epoch={self.samples_per_epoch} is not a multiple of "
                     f"batch_size={self.batch_size}")
        if not 0 < self.mask_ratio < 1:
            p.append(f"mask_ratio={self.mask_ratio} must lie in (0, 1)")
        if not 0 <= self.warmup_epochs <= self.epochs:
            p.append(f"warmup_epochs={self.warmup_epochs} must lie in [0, epochs={self.epochs}]")
        if self.base_lr <= 0 or self.min_lr < 0 or self.weight_decay < 0:
            p.append("base_lr must be > 0, min_lr and weight_decay >= 0")
        if self.decoder_dim < 0 or self.decoder_heads < 0:
            p.append("decoder_dim and decoder_heads must be >= 0 (0: MAE-Lite's choice)")
        elif self.decoder_dim and self.decoder_heads and self.decoder_dim % self.decoder_heads:
            p.append(f"decoder_dim={self.decoder_dim} is not divisible by decoder_heads={self.decoder_heads}")
        if self.decoder_depth < 1:
            p.append("decoder_depth must be >= 1")
        if any(w < 0 for w in self.crop_mix) or sum(self.crop_mix) <= 0:
            p.append(f"crop_mix={self.crop_mix} must be non-negative weights, not all zero")
        if not 0 < self.crop_scale[0] <= self.crop_scale[1] <= 1:
            p.append(f"crop_scale={self.crop_scale} must satisfy 0 < lo <= hi <= 1")
        if not 0 < self.crop_ratio[0] <= self.crop_ratio[1]:
            p.append(f"crop_ratio={self.crop_ratio} must satisfy 0 < lo <= hi")
        if not 0 <= self.hflip <= 1 or self.jitter < 0:
            p.append("hflip must lie in [0, 1] and jitter be >= 0")
        if self.synth_frames_per_scene < 1 or self.synth_crops_per_frame < 1:
            p.append("synth_frames_per_scene and synth_crops_per_frame must be >= 1")
        if self.batch_size % self.synth_group:
            p.append(f"batch_size={self.batch_size} is not a multiple of synth_frames_per_scene x "
                     f"synth_crops_per_frame = {self.synth_group}")
        if self.num_workers < 0:
            p.append("num_workers must be >= 0")
        if p:
            raise ConfigError("invalid pretrain config: " + "; ".join(p))

    @property
    def synth_group(self) -> int:
        """Crops taken from one planned procedural scene."""
        return self.synth_frames_per_scene * self.synth_crops_per_frame

    def decoder_size(self, embed_dim: int) -> tuple[int, int]:
        """(width, heads) of the decoder for an encoder of ``embed_dim`` (0s resolved)."""
        dim = self.decoder_dim or embed_dim // 2
        return dim, self.decoder_heads or max(1, dim // 32)

    def lr(self) -> float:
        """The peak learning rate, MAE's linear scaling rule."""
        return self.base_lr * self.batch_size / 256

    def override(self, overrides: list[str] | tuple[str, ...]) -> "PretrainConfig":
        """Apply ``pretrain.field=value`` strings (typed; ConfigError names a bad one)."""
        if not overrides:
            return self
        return apply_overrides({"pretrain": self}, list(overrides))["pretrain"]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)
