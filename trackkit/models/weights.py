"""Weights: pretrained timm / MAE ViT files into the backbone, trackkit checkpoints in and out.

Nothing is ever downloaded: every function reads a local file and a missing one raises
DataError saying which file to put where.
"""
from __future__ import annotations

import math
import pickle
from pathlib import Path

import torch

from trackkit.atomic import atomic_open
from trackkit.errors import DataError
from trackkit.models.onestream import OneStreamViT, resample_pos

# keys of pretrained files that a tracker backbone does not use
_IGNORED_PREFIXES = ("decoder", "mask_token", "head.", "fc_norm.", "pre_logits", "attn_pool")


def read_state_dict(path: str | Path, trust: bool = False, source: str = "") -> dict:
    """Load a .pth / .pth.tar / .safetensors file as a flat state dict.

    Unwraps 'model' / 'state_dict' / 'net' and strips DDP's 'module.' prefix. Files holding
    Python objects besides tensors need ``trust=True`` (full unpickling: trusted files only).
    """
    path = Path(path)
    if not path.is_file():
        what = f" ({source})" if source else ""
        raise DataError(path, f"weights file not found: put the checkpoint{what} at this path "
                              "(nothing is downloaded)")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        sd = load_file(str(path))
    else:
        try:
            sd = torch.load(path, map_location="cpu", weights_only=not trust)
        except pickle.UnpicklingError as e:
            raise DataError(path, "the checkpoint holds Python objects besides tensors; rerun "
                                  f"trusting it (--trust-checkpoint / trust=True) if you trust "
                                  f"its origin ({str(e).splitlines()[0]})") from None
        except Exception as e:  # truncated or foreign file
            raise DataError(path, f"cannot read checkpoint: {type(e).__name__}: {e}") from None
    for key in ("net", "model", "state_dict"):
        if isinstance(sd, dict) and key in sd and isinstance(sd[key], dict):
            sd = sd[key]
            break
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise DataError(path, "no state dict of tensors found (looked under 'net', 'model', "
                              "'state_dict' and the top level)")
    return {k[7:] if k.startswith("module.") else k: v for k, v in sd.items()}


def load_pretrained(backbone: OneStreamViT, path: str | Path, source: str = "",
                    state_dict: dict | None = None) -> dict:
    """Load timm / MAE ViT weights into ``backbone``; pos embeds resampled to both grids.

    The file's 'pos_embed' (1, [1+]G*G, D) is split into the class-token part and the patch
    grid, and the grid is resampled (bicubic, align_corners=False) to the template and search
    grids. Returns {'loaded': [...], 'ignored': [...]}; missing or mis-shaped keys raise
    DataError listing them.
    """
    sd = read_state_dict(path, source=source) if state_dict is None else state_dict
    if "pos_embed" not in sd:
        raise DataError(path, "no 'pos_embed' in the file: not a timm / MAE ViT checkpoint")
    pos = sd["pos_embed"]
    n = pos.shape[1]
    g = math.isqrt(n)
    prefix = 0 if g * g == n else 1
    if prefix and math.isqrt(n - 1) ** 2 != n - 1:
        raise DataError(path, f"pos_embed has {n} tokens: neither a square grid nor cls + grid")
    grid_pos = pos[:, prefix:]
    own = backbone.state_dict()
    mapped = {"pos_embed_z": resample_pos(grid_pos, backbone.template_grid),
              "pos_embed_x": resample_pos(grid_pos, backbone.search_grid)}
    if backbone.cls_token is not None:
        if not prefix or "cls_token" not in sd:
            raise DataError(path, "the backbone has a class token but the file has no "
                                  "cls_token / class position embedding")
        mapped["cls_token"] = sd["cls_token"]
        mapped["pos_embed_cls"] = pos[:, :1]
    ignored = []
    for k, v in sd.items():
        if k in ("pos_embed", "cls_token") or k in mapped:
            continue
        if k.startswith(_IGNORED_PREFIXES) or k not in own:
            ignored.append(k)
            continue
        mapped[k] = v
    missing = sorted(set(own) - set(mapped))
    shapes = [f"{k}: file {tuple(v.shape)} vs model {tuple(own[k].shape)}"
              for k, v in mapped.items() if k in own and v.shape != own[k].shape]
    if missing or shapes:
        msg = []
        if missing:
            msg.append(f"missing keys {missing}")
        if shapes:
            msg.append(f"shape mismatches {shapes}")
        raise DataError(path, "pretrained weights do not fit the backbone: " + "; ".join(msg))
    backbone.load_state_dict(mapped, strict=True)
    return {"loaded": sorted(mapped), "ignored": sorted(ignored)}


def save_model(path: str | Path, model, preset) -> None:
    """A trackkit checkpoint: {'format': 'trackkit-model-1', 'preset': dict, 'state_dict'}."""
    obj = {"format": "trackkit-model-1", "preset": preset.to_dict(),
           "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()}}
    with atomic_open(path, "wb") as fh:
        torch.save(obj, fh)


def load_model(path: str | Path):
    """Inverse of save_model -> (model in eval mode, preset)."""
    from trackkit.models.build import build_model
    from trackkit.models.presets import Preset

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "model checkpoint not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise DataError(path, f"cannot read model checkpoint: {type(e).__name__}: {e}") from None
    if not isinstance(obj, dict) or obj.get("format") != "trackkit-model-1":
        raise DataError(path, "not a trackkit model checkpoint (no format 'trackkit-model-1')")
    preset = Preset.from_dict(obj["preset"])
    model = build_model(preset, load_pretrained_weights=False)
    missing, unexpected = model.load_state_dict(obj["state_dict"], strict=False)
    if missing or unexpected:
        raise DataError(path, f"state dict does not fit preset {preset.name!r}: "
                              f"missing {missing}, unexpected {unexpected}")
    return model.eval(), preset
