"""Weights: reading checkpoint files safely, pretrained timm / MAE ViT files into the backbone.

Nothing is ever downloaded: every function reads a local file and a missing one raises
DataError saying which file to put where.
"""
from __future__ import annotations

import math
import pickle
from pathlib import Path
from types import SimpleNamespace
from typing import NamedTuple

import torch

from trackkit.errors import DataError
from trackkit.models.onestream import OneStreamViT, resample_pos

# keys of pretrained files that a tracker backbone does not use
_IGNORED_PREFIXES = ("decoder", "mask_token", "head.", "fc_norm.", "pre_logits", "attn_pool")


class Checkpoint(NamedTuple):
    state_dict: dict        # flat name -> tensor
    skipped: list[str]      # what reading the file left out, for the user


class _InertObject:
    """Stands in for an object of a class outside the allow-list: takes whatever the pickle
    passes (constructor arguments, state) and keeps it as data; runs none of the class's code."""

    def __init__(self, *args, **kwargs):
        self._args, self._kwargs = args, kwargs

    def __setstate__(self, state):
        self._state = state

    def __call__(self, *args, **kwargs):  # a stubbed function's result called in turn
        return _InertObject(*args, **kwargs)

    # dict / list subclasses (EasyDict ...) get their items through these
    def __setitem__(self, key, value):
        self.__dict__.setdefault("_items", {})[key] = value

    def append(self, value):
        self.__dict__.setdefault("_list", []).append(value)

    def extend(self, values):
        self.__dict__.setdefault("_list", []).extend(values)


def _make_stub_unpickler(stubbed: set[str]):
    """A pickle module for torch.load whose find_class returns torch's weights-only allow-list
    objects and, for every other global, a fresh inert class (its name recorded in stubbed)."""
    from torch._weights_only_unpickler import _get_allowed_globals

    allowed = _get_allowed_globals() | {
        f"{getattr(g, '__module__', '')}.{getattr(g, '__qualname__', g)}": g
        for g in torch.serialization.get_safe_globals() if not isinstance(g, tuple)}

    class StubUnpickler(pickle.Unpickler):
        def find_class(self, module, name):
            full = f"{module}.{name}"
            if full in allowed:
                return allowed[full]
            stubbed.add(full)
            return type(name, (_InertObject,), {"__module__": f"<stub of {module}>"})

    def load(f, **kwargs):
        return StubUnpickler(f, **kwargs).load()

    return SimpleNamespace(__name__="trackkit_stub_pickle", Unpickler=StubUnpickler, load=load)


def _not_valid(path: Path, e: Exception) -> DataError:
    first = (str(e).splitlines() or [""])[0]
    return DataError(path, f"not a valid checkpoint (neither a torch.save file nor safetensors, "
                           f"or truncated): {type(e).__name__}: {first}")


def _unwrap(obj) -> tuple[dict | None, str]:
    """The flat tensor dict in a loaded object: itself, or under 'net' / 'model' / 'state_dict'."""
    for key in ("net", "model", "state_dict"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            return obj[key], key
    return (obj, "") if isinstance(obj, dict) else (None, "")


def _tensors_only(sd) -> bool:
    return isinstance(sd, dict) and all(isinstance(v, torch.Tensor) for v in sd.values())


def read_checkpoint(path: str | Path, trust: bool = False, source: str = "") -> Checkpoint:
    """Load a .pth / .pth.tar / .safetensors file as a flat state dict.

    Unwraps 'net' / 'model' / 'state_dict' and strips DDP's 'module.' prefix. Files are read
    with torch's weights-only unpickler. If that refuses a well-formed pickle because it names
    globals outside torch's allow-list (e.g. the ``settings`` object of an official OSTrack
    training checkpoint, class ``lib.train.admin.settings.Settings``), the file is read again
    with every such global replaced by an inert stub (nothing of it imported or run) and the
    tensors are taken if the state dict holds nothing else; ``skipped`` then names the stubbed
    classes. Only when the weights themselves need those globals does the error suggest
    ``trust=True`` (full unpickling: trusted files only), naming them. A file that is not a
    checkpoint at all (random bytes, a truncated archive) says so.
    """
    path = Path(path)
    if not path.is_file():
        what = f" ({source})" if source else ""
        raise DataError(path, f"weights file not found: put the checkpoint{what} at this path "
                              "(nothing is downloaded)")
    skipped: list[str] = []
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            obj = load_file(str(path))
        except Exception as e:
            raise _not_valid(path, e) from None
    elif trust:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as e:
            raise _not_valid(path, e) from None
    else:
        try:
            obj = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as safe_error:
            stubbed: set[str] = set()
            try:
                obj = torch.load(path, map_location="cpu", weights_only=False,
                                 pickle_module=_make_stub_unpickler(stubbed))
            except Exception as e:
                if not stubbed:
                    raise _not_valid(path, e) from None
                obj = None  # its foreign objects are more than inert stubs can stand in for
            if not stubbed:  # well-formed and allowed, yet refused: report torch's reason
                raise _not_valid(path, safe_error) from None
            names = ", ".join(sorted(stubbed))
            sd, key = _unwrap(obj)
            if not _tensors_only(sd):
                raise DataError(path, f"the checkpoint's weights need Python objects outside the "
                                      f"allow-list ({names}); rerun trusting it "
                                      "(--trust-checkpoint / trust=True) only if you trust its "
                                      "origin: that runs code named in the file") from None
            others = sorted(k for k in obj if k != key) if key else []
            skipped.append(f"read the tensors{f' under {key!r}' if key else ''}; replaced by inert "
                           f"stubs, not imported or run: {names}"
                           + (f"; other entries ignored: {others}" if others else ""))
    sd, _ = _unwrap(obj)
    if not _tensors_only(sd):
        raise DataError(path, "no state dict of tensors found (looked under 'net', 'model', "
                              "'state_dict' and the top level)")
    sd = {k[7:] if k.startswith("module.") else k: v for k, v in sd.items()}
    return Checkpoint(sd, skipped)


def read_state_dict(path: str | Path, trust: bool = False, source: str = "") -> dict:
    """The flat state dict of a checkpoint file; see :func:`read_checkpoint`."""
    return read_checkpoint(path, trust=trust, source=source).state_dict


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


def load_tracker_backbone(backbone: OneStreamViT, path: str | Path) -> None:
    """Load the ``backbone.*`` tensors of a trackkit weights file (a trained one-stream tracker:
    ``trackkit train`` / :func:`trackkit.families.save_model`) into ``backbone``, exactly:
    the crop sizes (position embeddings) and dims must match; any gap raises DataError."""
    sd = read_state_dict(path, source="a trackkit tracker weights file (trackkit train ... model.pth)")
    own = {k[len("backbone."):]: v for k, v in sd.items() if k.startswith("backbone.")}
    if not own:
        raise DataError(path, "no 'backbone.*' tensors: not the weights of a one-stream tracker")
    target = backbone.state_dict()
    missing = sorted(set(target) - set(own))
    shapes = [f"{k}: file {tuple(v.shape)} vs model {tuple(target[k].shape)}"
              for k, v in own.items() if k in target and v.shape != target[k].shape]
    extra = sorted(set(own) - set(target))
    if missing or shapes or extra:
        raise DataError(path, f"the tracker's backbone does not fit: missing {missing[:5]}, unexpected "
                              f"{extra[:5]}, shape mismatches {shapes[:5]}")
    backbone.load_state_dict(own, strict=True)
