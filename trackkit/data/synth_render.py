"""Rasterising a planned synthetic scene: textures, masks, frames and pixel-true labels.

A :class:`~trackkit.data.synth_scene.Scene` holds every per-frame number (boxes, shape
exponents, texture angles, camera offsets, illumination, blur vectors) computed up front;
this module turns frame ``i`` of it into pixels without touching frames ``0..i-1``.

Everything is numpy-vectorised over the pixels of a region: the only Python loops run over
drawn objects, motion-blur taps and texture octaves, never over pixels.

Object masks are hard (a pixel belongs to a shape when its *centre* satisfies the
superellipse inequality), and the same :func:`shape_mask` is used for drawing and for the
labels, so ``cover`` / ``absence`` / ``cut_by_image`` are true to the drawn pixels. Motion
blur, illumination, sensor noise and JPEG are applied after the masks and are not part of the
label computation (a blurred target smears a little colour past its mask).
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

RECT_P = 64.0  # superellipse exponents >= this are drawn as exact rectangles
TEX_SIZE = 64  # side of an object texture, sampled nearest-neighbour
MAX_BLUR_TAPS = 15


# --------------------------------------------------------------------------- textures
def noise_field(rng: np.random.Generator, h: int, w: int, cells: int, octaves: int = 3) -> np.ndarray:
    """Smooth multi-octave value noise in [0, 1], ``(h, w)`` float32.

    Each octave is a random grid upsampled bicubically by PIL (deterministic, fast)."""
    out = np.zeros((h, w), np.float32)
    amp = 1.0
    for o in range(octaves):
        c = cells * 2**o
        gh, gw = max(2, round(c * h / max(h, w))), max(2, round(c * w / max(h, w)))
        grid = rng.random((gh, gw), dtype=np.float32)
        up = Image.fromarray(grid, mode="F").resize((w, h), Image.BICUBIC)
        out += amp * np.asarray(up, dtype=np.float32)
        amp *= 0.5
    lo, hi = float(out.min()), float(out.max())
    return (out - lo) / max(hi - lo, 1e-6)


def palette_texture(palette: np.ndarray, seed: int, size: tuple[int, int], pattern: str, cells: int) -> np.ndarray:
    """``(h, w, 3)`` float32 texture: a noise field mapped through a colour palette.

    ``pattern``: ``smooth`` (blotches), ``bands`` (stripes following the noise contours),
    ``spots`` (two-level blobs). A one-colour palette gives a flat colour (used by tests)."""
    palette = np.asarray(palette, np.float32).reshape(-1, 3)
    h, w = size
    if len(palette) == 1:
        return np.broadcast_to(palette[0], (h, w, 3)).astype(np.float32)
    f = noise_field(np.random.default_rng(seed), h, w, cells)
    if pattern == "bands":
        f = 0.5 + 0.5 * np.sin(f * (4 * math.pi * 3))
    elif pattern == "spots":
        f = (f > 0.55).astype(np.float32)
    # a 256-entry colour table indexed by the quantised field: one gather instead of 3 interps
    pos = np.linspace(0.0, 1.0, len(palette))
    levels = np.linspace(0.0, 1.0, 256)
    lut = np.stack([np.interp(levels, pos, palette[:, c]) for c in range(3)], axis=-1).astype(np.float32)
    return lut[(f * 255.0 + 0.5).astype(np.uint8)]


# ------------------------------------------------------------------------------ masks
def pixel_span(lo: float, size: float) -> tuple[int, int]:
    """Integer pixel range ``[a, b)`` whose centres may fall inside ``[lo, lo + size]``."""
    return math.floor(lo), math.ceil(lo + size)


def shape_uv(box: np.ndarray, x0: int, y0: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised coordinates (-1..1 across the box) of the pixel centres of a region."""
    cx, cy = box[0] + box[2] / 2.0, box[1] + box[3] / 2.0
    u = (np.arange(x0, x0 + w, dtype=np.float64) + 0.5 - cx) / (box[2] / 2.0)
    v = (np.arange(y0, y0 + h, dtype=np.float64) + 0.5 - cy) / (box[3] / 2.0)
    return u, v


def shape_mask(box: np.ndarray, p: float, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """Boolean ``(h, w)`` mask of the superellipse ``|u|^p + |v|^p <= 1`` inscribed in ``box``
    (x, y, w, h), evaluated at the pixel centres of the region at ``(x0, y0)``. Elementwise in
    absolute pixel coordinates, so any two regions agree on the pixels they share."""
    return _uv_mask(*shape_uv(box, x0, y0, w, h), p)


def _uv_mask(u: np.ndarray, v: np.ndarray, p: float) -> np.ndarray:
    au, av = np.abs(u), np.abs(v)
    if p >= RECT_P:
        return (av[:, None] <= 1.0) & (au[None, :] <= 1.0)
    return (av[:, None] ** p + au[None, :] ** p) <= 1.0


def clip_span(a: int, b: int, n: int) -> tuple[int, int]:
    return max(a, 0), min(b, n)


# ----------------------------------------------------------------------------- labels
def pixel_counts(scene, i: int) -> tuple[int, int, int]:
    """``(total, in_image, visible)`` target pixel counts of frame ``i``.

    ``total`` counts the target's mask over its whole box, including the part outside the
    image (on the same pixel grid extended past the border); ``in_image`` the part inside the
    image; ``visible`` the in-image part not hidden by an object drawn in front of it."""
    t = scene.target
    box = t.boxes[i]
    xa, xb = pixel_span(box[0], box[2])
    ya, yb = pixel_span(box[1], box[3])
    full = shape_mask(box, t.shape[i], xa, ya, xb - xa, yb - ya)
    total = int(full.sum())
    cxa, cxb = clip_span(xa, xb, scene.width)
    cya, cyb = clip_span(ya, yb, scene.height)
    if cxa >= cxb or cya >= cyb:
        return total, 0, 0
    inside = full[cya - ya : cyb - ya, cxa - xa : cxb - xa]
    n_in = int(inside.sum())
    hidden = np.zeros_like(inside)
    for obj in scene.front:
        hidden |= _mask_in_region(obj, i, cxa, cya, cxb - cxa, cyb - cya)
    return total, n_in, int((inside & ~hidden).sum())


def _mask_in_region(obj, i, x0, y0, w, h) -> np.ndarray:
    """Mask of ``obj`` at frame ``i`` over a region, computed only on the boxes' overlap."""
    out = np.zeros((h, w), bool)
    box = obj.boxes[i]
    xa, xb = pixel_span(box[0], box[2])
    ya, yb = pixel_span(box[1], box[3])
    xa, xb = max(xa, x0), min(xb, x0 + w)
    ya, yb = max(ya, y0), min(yb, y0 + h)
    if xa < xb and ya < yb:
        out[ya - y0 : yb - y0, xa - x0 : xb - x0] = shape_mask(box, obj.shape[i], xa, ya, xb - xa, yb - ya)
    return out


def scene_labels(scene) -> dict[str, np.ndarray]:
    """Per-frame GOT-10k labels and the pixel counts behind them.

    ``cover`` = ceil(8 * visible / total): level k for a visible ratio in ((k-1)/8, k/8], so
    0 only when no target pixel is visible and 8 when more than 7/8 are (GOT-10k does not
    publish its binning; this reading makes ``absence == 1`` exactly when ``cover == 0``).
    ``cut_by_image`` = some of the target's pixels fall outside the image."""
    counts = np.array([pixel_counts(scene, i) for i in range(scene.n_frames)], np.int64).reshape(-1, 3)
    total, n_in, vis = counts.T
    total = np.maximum(total, 1)
    cover = (8 * vis + total - 1) // total  # integer ceil, no float rounding
    return {
        "cover": cover.astype(np.int64),
        "absence": (vis == 0).astype(np.int64),
        "cut_by_image": (n_in < total).astype(np.int64),
        "target_pixels": total,
        "in_image_pixels": n_in,
        "visible_pixels": vis,
    }


# ----------------------------------------------------------------------------- frames
class SceneFrames:
    """Lazy frames of a :class:`Scene` (the FrameSource protocol).

    Textures are built on first access (a few ms) and cached on this object as uint8 (about
    0.5 MB at 320x240), so keep the object while reading several frames of one sequence and
    drop it to free the memory. Pickling keeps the plan only."""

    def __init__(self, scene):
        self.scene = scene
        self._tex = None

    def __len__(self) -> int:
        return self.scene.n_frames

    def __getstate__(self):  # pickle the plan only (DataLoader workers), not the texture cache
        return {"scene": self.scene, "_tex": None}

    def __getitem__(self, i: int) -> np.ndarray:
        n = self.scene.n_frames
        if not -n <= i < n:
            raise IndexError(f"frame {i} out of range for {n} frames")
        return self.render(i % n)

    # textures of every layer, the background and the noise tile
    def textures(self) -> dict:
        if self._tex is None:
            s = self.scene
            tex = {"background": _background(s)}
            for k, layer in enumerate(s.layers()):
                size = (TEX_SIZE, TEX_SIZE)
                tex[k] = tuple(
                    _to_uint8(palette_texture(pal, layer.tex_seed + j, size, layer.pattern, layer.cells))
                    for j, pal in enumerate(layer.palettes)
                )
            if s.noise > 0:
                g = np.random.default_rng(s.noise_seed)
                # one luma noise tile per sequence, cropped at a random offset per frame; int8
                # (whole grey levels) to keep cached sequences small
                noise = g.standard_normal((s.height + 16, s.width + 16, 1), dtype=np.float32) * np.float32(s.noise)
                tex["noise"] = np.clip(np.rint(noise), -127, 127).astype(np.int8)
            self._tex = tex
        return self._tex

    def render(self, i: int) -> np.ndarray:
        s = self.scene
        tex = self.textures()
        H, W = s.height, s.width
        ox, oy = int(s.camera[i, 0]), int(s.camera[i, 1])
        img = tex["background"][oy : oy + H, ox : ox + W].astype(np.float32)
        layers = s.layers()
        n_behind = len(s.behind)
        for k, layer in enumerate(layers):
            blur = s.blur[i] if k == n_behind else None  # the target is layer n_behind
            _paint(img, layer, tex[k], i, blur)
        a, bx, by = s.illum[i]
        if a != 1.0 or bx != 0.0 or by != 0.0:
            gx = (np.arange(W, dtype=np.float32) + 0.5) / W - 0.5
            gy = (np.arange(H, dtype=np.float32) + 0.5) / H - 0.5
            img *= (np.float32(a) + np.float32(bx) * gx[None, :] + np.float32(by) * gy[:, None])[..., None]
        if s.noise > 0:
            g = np.random.default_rng([s.noise_seed, i])
            dx, dy = g.integers(0, 17, size=2)
            img += tex["noise"][dy : dy + H, dx : dx + W]
        np.clip(img, 0.0, 255.0, out=img)
        return (img + 0.5).astype(np.uint8)

    def label_map(self, i: int) -> np.ndarray:
        """``(H, W)`` int8 map of frame ``i``: 0 background, 1 visible target pixel, 2 pixel of
        an object in front of the target, 3 pixel of an object behind it (masks only, for
        checking labels against pixels)."""
        s = self.scene
        out = np.zeros((s.height, s.width), np.int8)
        for value, objs in ((3, s.behind), (1, [s.target]), (2, s.front)):
            for obj in objs:
                out[_mask_in_region(obj, i, 0, 0, s.width, s.height)] = value
        return out


def _to_uint8(a: np.ndarray) -> np.ndarray:
    return (np.clip(a, 0.0, 255.0) + 0.5).astype(np.uint8)


def _background(s) -> np.ndarray:
    bg = s.background
    H, W = s.height + 2 * bg.pad, s.width + 2 * bg.pad
    img = palette_texture(bg.palette, bg.tex_seed, (H, W), bg.pattern, bg.cells)
    # static clutter: shapes baked into the background, drawn like objects
    for box, p, col in zip(bg.clutter_boxes, bg.clutter_p, bg.clutter_colors):
        xa, xb = clip_span(*pixel_span(box[0], box[2]), W)
        ya, yb = clip_span(*pixel_span(box[1], box[3]), H)
        if xa < xb and ya < yb:
            m = shape_mask(box, p, xa, ya, xb - xa, yb - ya)
            region = img[ya:yb, xa:xb]
            region[m] = 0.5 * region[m] + 0.5 * np.asarray(col, np.float32)
    return _to_uint8(img)


def _layer_rgba(layer, tex, i, x0, y0, w, h):
    """Premultiplied colour ``(h, w, 3)`` and alpha ``(h, w)`` of a layer over a region."""
    box = layer.boxes[i]
    u, v = shape_uv(box, x0, y0, w, h)
    mask = _uv_mask(u, v, layer.shape[i])  # the same test as shape_mask (labels)
    # texture coordinates rotate with the object's in-plane texture angle; the 1/sqrt(2)
    # keeps the rotated unit square inside the texture
    c, s_ = math.cos(layer.angle[i]) / math.sqrt(2), math.sin(layer.angle[i]) / math.sqrt(2)
    tu = u[None, :] * c - v[:, None] * s_
    tv = u[None, :] * s_ + v[:, None] * c
    ix = np.clip(((tu + 1.0) * (0.5 * TEX_SIZE)).astype(np.intp), 0, TEX_SIZE - 1)
    iy = np.clip(((tv + 1.0) * (0.5 * TEX_SIZE)).astype(np.intp), 0, TEX_SIZE - 1)
    col = tex[0][iy, ix].astype(np.float32)
    m = float(layer.mix[i])
    if m > 0.0 and len(tex) > 1:
        col = col * np.float32(1.0 - m) + tex[1][iy, ix].astype(np.float32) * np.float32(m)
    alpha = mask.astype(np.float32)
    col = col * (np.float32(layer.gain[i]) * alpha)[..., None]
    return col, alpha


def _paint(img: np.ndarray, layer, tex, i: int, blur) -> None:
    """Composite one layer over ``img`` in place (with motion blur along ``blur`` if given)."""
    H, W = img.shape[:2]
    box = layer.boxes[i]
    xa, xb = pixel_span(box[0], box[2])
    ya, yb = pixel_span(box[1], box[3])
    bl = 0.0 if blur is None else float(np.hypot(*blur))
    if bl < 1.0:
        xa, xb = clip_span(xa, xb, W)
        ya, yb = clip_span(ya, yb, H)
        if xa >= xb or ya >= yb:
            return
        col, alpha = _layer_rgba(layer, tex, i, xa, ya, xb - xa, yb - ya)
    else:
        # average shifted copies along the blur vector over a region grown by the blur
        pad = int(math.ceil(bl / 2)) + 1
        xa, xb, ya, yb = xa - pad, xb + pad, ya - pad, yb + pad
        if xb <= 0 or yb <= 0 or xa >= W or ya >= H:
            return
        col0, a0 = _layer_rgba(layer, tex, i, xa, ya, xb - xa, yb - ya)
        n = min(MAX_BLUR_TAPS, int(math.ceil(bl)) + 1)
        col = np.zeros_like(col0)
        alpha = np.zeros_like(a0)
        for t in np.linspace(-0.5, 0.5, n):
            dx, dy = int(round(blur[0] * t)), int(round(blur[1] * t))
            # the region has `pad` empty pixels on each side, so rolling wraps only zeros
            col += np.roll(col0, (dy, dx), axis=(0, 1))
            alpha += np.roll(a0, (dy, dx), axis=(0, 1))
        col /= n
        alpha /= n
        cxa, cxb = clip_span(xa, xb, W)
        cya, cyb = clip_span(ya, yb, H)
        col = col[cya - ya : cyb - ya, cxa - xa : cxb - xa]
        alpha = alpha[cya - ya : cyb - ya, cxa - xa : cxb - xa]
        xa, xb, ya, yb = cxa, cxb, cya, cyb
    region = img[ya:yb, xa:xb]
    region *= (1.0 - alpha)[..., None]
    region += col
