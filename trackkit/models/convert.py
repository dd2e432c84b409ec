"""Official OSTrack / SimTrack checkpoint layouts -> trackkit state dicts.

The families' converters (``trackkit.families.ostrack.convert_ostrack``, ``...simtrack.
convert_simtrack``; ``trackkit convert``) read a file with :func:`read_official`, build their
network and load what the mapping here gives.

OSTrack (botaoye/OSTrack): ``OSTrack_ep0300.pth.tar`` keeps its weights under 'net'
(``lib/models/ostrack/``). trackkit's backbone and center head use the same module
names, so the mapping only drops what the tracker never uses after fine-tuning
(``backbone.cls_token`` and the pretrained-grid ``backbone.pos_embed``, already resampled
into ``pos_embed_z`` / ``pos_embed_x``).

SimTrack (LPXTT/SimTrack, ``lib/models/stark/simtrack.py`` + ``clipvit16.py``): the backbone
is OpenAI CLIP's visual transformer under ``backbone.visual.`` (``conv1``,
``class_embedding``, ``positional_embedding``, ``ln_pre``, ``transformer.resblocks.i``
with ``attn.in_proj_*`` / ``attn.out_proj``, ``ln_1``, ``ln_2``, ``mlp.c_fc`` / ``c_proj``,
``ln_post``) beside ``backbone.pos_fc``; ``bottleneck`` and ``box_head`` (STARK's corner
predictor, trackkit's names) sit at the top level. The official backbone resamples
``positional_embedding[1:]`` to the search grid bilinearly at every forward; the converter
does it once into ``pos_embed_x``. CLIP's image-text projection ``proj`` is unused.

Anything that does not fit is listed in a DataError: keys missing from the file, keys the
model lacks, shape mismatches.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import torch
import torch.nn.functional as F

from trackkit.errors import DataError
from trackkit.models.weights import read_checkpoint

UNUSED_OFFICIAL_KEYS = ("backbone.cls_token", "backbone.pos_embed")
UNUSED_SIMTRACK_KEYS = ("backbone.visual.proj",)

# official SimTrack name -> trackkit name, first match wins
_SIMTRACK_RENAMES = (
    (r"backbone\.visual\.conv1\.", "backbone.patch_embed.proj."),
    (r"backbone\.visual\.ln_pre\.", "backbone.norm_pre."),
    (r"backbone\.visual\.ln_post\.", "backbone.norm."),
    (r"backbone\.visual\.transformer\.resblocks\.(\d+)\.attn\.in_proj_(weight|bias)$",
     r"backbone.blocks.\1.attn.qkv.\2"),
    (r"backbone\.visual\.transformer\.resblocks\.(\d+)\.attn\.out_proj\.",
     r"backbone.blocks.\1.attn.proj."),
    (r"backbone\.visual\.transformer\.resblocks\.(\d+)\.ln_1\.", r"backbone.blocks.\1.norm1."),
    (r"backbone\.visual\.transformer\.resblocks\.(\d+)\.ln_2\.", r"backbone.blocks.\1.norm2."),
    (r"backbone\.visual\.transformer\.resblocks\.(\d+)\.mlp\.c_fc\.",
     r"backbone.blocks.\1.mlp.fc1."),
    (r"backbone\.visual\.transformer\.resblocks\.(\d+)\.mlp\.c_proj\.",
     r"backbone.blocks.\1.mlp.fc2."),
    (r"backbone\.pos_fc\.", "pos_fc."),
    (r"bottleneck\.", "box_head.bottleneck."),
    (r"box_head\.", "box_head."),
)


def _check_fit(mapped: dict, model: torch.nn.Module, where) -> dict:
    """Fill BN step counters older checkpoints lack; raise DataError listing what does not fit."""
    own = model.state_dict()
    for k, v in own.items():
        if k.endswith("num_batches_tracked") and k not in mapped:
            mapped[k] = v
    missing = sorted(set(own) - set(mapped))
    unexpected = sorted(set(mapped) - set(own))
    shapes = [f"{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}"
              for k, v in mapped.items() if k in own and v.shape != own[k].shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"missing from the checkpoint: {missing}")
        if unexpected:
            parts.append(f"not in the model: {unexpected}")
        if shapes:
            parts.append(f"shape mismatches: {shapes}")
        raise DataError(where, "checkpoint does not fit the preset (wrong --preset?): "
                               + "; ".join(parts))
    return mapped


def map_official_ostrack(sd: dict[str, torch.Tensor], model: torch.nn.Module,
                         where: str | Path | None = None) -> dict[str, torch.Tensor]:
    """Official OSTrack state dict -> a state dict that loads strictly into ``model``."""
    mapped = {k: v for k, v in sd.items() if k not in UNUSED_OFFICIAL_KEYS}
    return _check_fit(mapped, model, where)


def _bilinear_grid(grid_pos: torch.Tensor, side: int, where) -> torch.Tensor:
    """(G*G, D) -> (1, side*side, D), as clipvit16.py resamples: bilinear, align_corners=False."""
    n, d = grid_pos.shape
    g = math.isqrt(n)
    if g * g != n:
        raise DataError(where, f"backbone.visual.positional_embedding has {n + 1} rows: not "
                               "a class token plus a square grid")
    img = grid_pos.float().reshape(1, g, g, d).permute(0, 3, 1, 2)
    out = F.interpolate(img, size=(side, side), mode="bilinear", align_corners=False)
    return out.flatten(2).transpose(1, 2)


def map_official_simtrack(sd: dict[str, torch.Tensor], model: torch.nn.Module,
                          where: str | Path | None = None) -> dict[str, torch.Tensor]:
    """Official SimTrack state dict (CLIP names) -> a state dict that loads strictly into
    ``model`` (a trackkit SimTrack with cls_token, pre_norm and dist_pos_embed)."""
    mapped, unknown = {}, []
    for k, v in sd.items():
        if k in UNUSED_SIMTRACK_KEYS:
            continue
        if k == "backbone.visual.class_embedding":
            mapped["backbone.cls_token"] = v.reshape(1, 1, -1)
            continue
        if k == "backbone.visual.positional_embedding":
            cfg = model.cfg
            mapped["backbone.pos_embed_cls"] = v[:1].reshape(1, 1, -1)
            mapped["backbone.pos_embed_x"] = _bilinear_grid(v[1:], cfg.feat_size, where)
            # the distinguishable embedding replaces it; filled the same way so the file is whole
            mapped["backbone.pos_embed_z"] = _bilinear_grid(v[1:], cfg.template_grid, where)
            continue
        for pattern, repl in _SIMTRACK_RENAMES:
            new, n = re.subn("^" + pattern, repl, k)
            if n:
                mapped[new] = v
                break
        else:
            unknown.append(k)
    if unknown:
        raise DataError(where, f"not official SimTrack keys (or not used by it): {sorted(unknown)}")
    return _check_fit(mapped, model, where)


def read_official(checkpoint: str | Path | dict, trust: bool = False) -> tuple[dict, Path | None, list[str]]:
    """An official checkpoint (a path, or a dict of tensors or {'net': tensors}) -> (state dict,
    the path for error messages, notes on what reading the file skipped)."""
    if isinstance(checkpoint, dict):
        sd = checkpoint["net"] if isinstance(checkpoint.get("net"), dict) else checkpoint
        return sd, None, []
    ckpt = read_checkpoint(checkpoint, trust=trust)
    return ckpt.state_dict, Path(checkpoint), ckpt.skipped
