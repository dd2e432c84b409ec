"""Planning a synthetic tracking sequence: every per-frame number, computed up front.

:func:`plan_scene` draws, from one numpy Generator, the target's trajectory, size, aspect,
shape and appearance curves, the distractors, occluders, camera path, illumination and motion
blur of a whole sequence. Nothing here touches pixels (see :mod:`trackkit.data.synth_render`),
so a sequence's boxes and labels are known before any frame is rendered, and frame ``i`` can
be rendered alone.

Geometry: boxes are x, y, w, h in pixels of the *whole* object (they may extend past the
image; the dataset's ground truth clips them, see :mod:`trackkit.data.synth`). Objects are
superellipses ``|u|^p + |v|^p <= 1`` inscribed in their box (p=1 diamond, 2 ellipse, large p
rectangle), so the box is the tight box of the shape for every p.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from trackkit.data.synth_render import RECT_P

SHAPES = {"diamond": 1.0, "rhombus": 1.5, "ellipse": 2.0, "squircle": 4.0, "rounded box": 10.0, "box": RECT_P}
PATTERNS = ("smooth", "bands", "spots")
MIN_SIZE = 6.0  # px; smaller targets are not trackable at all


@dataclass
class Layer:
    """One drawn object. Arrays have one entry per frame.

    ``palettes``: one palette (``(n, 3)`` RGB 0..255) per texture; with two, ``mix`` blends the
    first texture into the second (appearance change). A one-colour palette draws a flat colour.
    """

    boxes: np.ndarray  # (K, 4) x, y, w, h of the whole object
    shape: np.ndarray  # (K,) superellipse exponent (>= RECT_P: rectangle)
    angle: np.ndarray  # (K,) in-plane rotation of the texture, radians
    mix: np.ndarray  # (K,) 0..1 weight of the second texture
    gain: np.ndarray  # (K,) brightness multiplier of the object
    palettes: tuple
    tex_seed: int = 0
    pattern: str = "smooth"
    cells: int = 4

    @classmethod
    def static(cls, box, n_frames: int, color, p: float = RECT_P) -> "Layer":
        """A still, flat-coloured object (crafted scenes in tests and examples)."""
        k = n_frames
        return cls(
            boxes=np.tile(np.asarray(box, np.float64), (k, 1)),
            shape=np.full(k, float(p)),
            angle=np.zeros(k),
            mix=np.zeros(k),
            gain=np.ones(k),
            palettes=(np.asarray([color], np.float32),),
        )


@dataclass
class Background:
    """A textured backdrop larger than the frame by ``pad`` on each side (camera motion)."""

    palette: np.ndarray
    tex_seed: int = 0
    pattern: str = "smooth"
    cells: int = 6
    pad: int = 0
    clutter_boxes: np.ndarray = field(default_factory=lambda: np.zeros((0, 4)))
    clutter_p: np.ndarray = field(default_factory=lambda: np.zeros(0))
    clutter_colors: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))


@dataclass
class Scene:
    """Everything needed to render any frame of a sequence. Draw order: background, ``behind``,
    ``target``, ``front``; then illumination and sensor noise over the whole frame."""

    width: int
    height: int
    n_frames: int
    target: Layer
    background: Background
    behind: list = field(default_factory=list)
    front: list = field(default_factory=list)
    camera: np.ndarray | None = None  # (K, 2) int: top-left of the view in the backdrop
    illum: np.ndarray | None = None  # (K, 3): gain a, horizontal and vertical gradient
    blur: np.ndarray | None = None  # (K, 2): target motion-blur vector in px (0: none)
    noise: float = 0.0  # sensor noise std in grey levels
    noise_seed: int = 0
    events: dict = field(default_factory=dict)  # what the planner decided to stage
    info: dict = field(default_factory=dict)  # realised knobs (speeds, sizes) for meta_info

    def __post_init__(self):
        k = self.n_frames
        if self.camera is None:
            self.camera = np.full((k, 2), self.background.pad, np.int64)
        if self.illum is None:
            self.illum = np.tile([1.0, 0.0, 0.0], (k, 1))
        if self.blur is None:
            self.blur = np.zeros((k, 2))

    def layers(self) -> list:
        return [*self.behind, self.target, *self.front]


# ------------------------------------------------------------------------------ helpers
def smooth_curve(rng: np.random.Generator, n: int, knots: int) -> np.ndarray:
    """A smooth random curve in [-1, 1] over ``n`` frames: cosine interpolation of
    ``knots`` uniform random values spread evenly over the sequence."""
    knots = max(2, knots)
    vals = rng.uniform(-1.0, 1.0, knots)
    pos = np.arange(n) / max(n - 1, 1) * (knots - 1)
    i0 = np.minimum(pos.astype(np.int64), knots - 2)
    w = 0.5 - 0.5 * np.cos(np.pi * (pos - i0))
    return vals[i0] * (1 - w) + vals[i0 + 1] * w


def hsv_colors(h, s, v) -> np.ndarray:
    """Vectorised HSV (0..1) -> RGB (0..255) float32."""
    h, s, v = (np.atleast_1d(np.asarray(a, np.float64)) for a in (h, s, v))
    i = np.floor(h * 6).astype(np.int64) % 6
    f = h * 6 - np.floor(h * 6)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    r = np.choose(i, [v, q, p, p, t, v])
    g = np.choose(i, [t, v, v, q, p, p])
    b = np.choose(i, [p, p, t, v, v, q])
    return (np.stack([r, g, b], -1) * 255).astype(np.float32)


def _palette(rng, n, hue=None, sat=(0.45, 1.0), val=(0.3, 1.0), hue_spread=0.5):
    base = rng.random() if hue is None else hue
    h = (base + rng.uniform(-hue_spread, hue_spread, n) / 2) % 1.0
    return hsv_colors(h, rng.uniform(*sat, n), rng.uniform(*val, n))


def _knots(n_frames: int) -> int:
    return 2 + n_frames // 30


def _trajectory(rng, cfg, n, w, h, start, speed, abrupt: bool):
    """Centres ``(n, 2)``: smooth heading and speed curves, reflected where the box of size
    ``(w, h)`` would cross the border (leaving the frame is staged by :func:`_leave_frame`),
    plus abrupt jumps / reversals at random frames when ``abrupt``."""
    W, H = cfg.width, cfg.height
    heading = rng.uniform(0, 2 * np.pi) + np.pi * smooth_curve(rng, n, _knots(n))
    mag = speed * np.clip(1.0 + 0.6 * smooth_curve(rng, n, _knots(n)), 0.1, None)
    kicks = (rng.random(n) < cfg.p_abrupt) if abrupt else np.zeros(n, bool)
    kind = rng.random(n) < 0.5  # True: position jump, False: reversal
    jump_dir = rng.uniform(0, 2 * np.pi, n)
    jump_len = rng.uniform(1.0, 2.5, n)
    half = np.stack([w, h], 1) / 2
    lo = np.minimum(half, np.array([W / 2 - 1, H / 2 - 1]))
    hi = np.array([W, H]) - lo
    sizes = np.sqrt(w * h)
    c = np.empty((n, 2))
    c[0] = start
    flip = np.ones(2)
    turn = 0.0
    for t in range(1, n):
        step = mag[t] * np.array([math.cos(heading[t] + turn), math.sin(heading[t] + turn)]) * flip
        if kicks[t]:
            if kind[t]:
                step = step + jump_len[t] * sizes[t] * np.array([math.cos(jump_dir[t]), math.sin(jump_dir[t])])
            else:
                turn += math.pi
                step = -step
        p = c[t - 1] + step
        for a in range(2):  # reflect off the margin; a jump longer than the frame is clamped
            la, ha = lo[t, a], hi[t, a]
            if p[a] < la:
                p[a] = 2 * la - p[a]
                flip[a] = -flip[a]
            elif p[a] > ha:
                p[a] = 2 * ha - p[a]
                flip[a] = -flip[a]
            p[a] = min(max(p[a], la), ha)
        c[t] = p
    return c, bool(kicks[1:].any())


def _boxes(centres, w, h) -> np.ndarray:
    return np.stack([centres[:, 0] - w / 2, centres[:, 1] - h / 2, w, h], axis=1)


def _seed(rng) -> int:
    return int(rng.integers(0, 2**31 - 1))


# ------------------------------------------------------------------------------ planner
def plan_scene(cfg, rng: np.random.Generator, n_frames: int) -> Scene:
    """Draw one sequence from the knobs of a :class:`~trackkit.data.synth.SynthConfig`."""
    K = n_frames
    W, H = cfg.width, cfg.height
    S = float(min(W, H))
    ev = {
        "fast": rng.random() < cfg.p_fast,
        "abrupt": rng.random() < cfg.p_abrupt_seq,
        "scale": rng.random() < cfg.p_scale,
        "deformation": rng.random() < cfg.p_deformation,
        "occlusion": rng.random() < cfg.p_occlusion,
        "out_of_view": rng.random() < cfg.p_out_of_view and K >= 10,
        "distractors": rng.random() < cfg.p_distractors and cfg.n_distractors[1] > 0,
        "illumination": rng.random() < cfg.p_illumination,
        "motion_blur": rng.random() < cfg.p_motion_blur and cfg.blur_strength > 0,
        "camera_motion": rng.random() < cfg.p_camera_motion,
    }

    # --- target size, aspect, shape, texture angle, appearance, brightness
    base = rng.uniform(*cfg.target_size) * S
    log_a0 = rng.uniform(math.log(cfg.aspect[0]), math.log(cfg.aspect[1]))
    amp_s = 0.5 * math.log(cfg.scale_change) if ev["scale"] else 0.04
    ls = smooth_curve(rng, K, _knots(K))
    size = np.clip(base * np.exp(amp_s * (ls - ls[0])), MIN_SIZE, 0.8 * S)
    amp_a = 0.5 * math.log(cfg.aspect_change) if ev["deformation"] else 0.04
    la = smooth_curve(rng, K, _knots(K))
    log_a = log_a0 + amp_a * (la - la[0])
    w, h = size * np.exp(log_a / 2), size * np.exp(-log_a / 2)
    shape_name = list(SHAPES)[int(rng.integers(len(SHAPES)))]
    p0 = SHAPES[shape_name]
    pc = smooth_curve(rng, K, _knots(K))
    shape = np.clip(p0 * np.exp(0.9 * (pc - pc[0])), 0.8, RECT_P) if ev["deformation"] else np.full(K, p0)
    rot = math.pi if ev["deformation"] else 0.25
    angle = rng.uniform(0, 2 * np.pi) + rot * smooth_curve(rng, K, _knots(K))
    amount = cfg.appearance_change * rng.uniform(0.5, 1.0)
    phase = rng.uniform(0.5, 2.0) * np.arange(K) / max(K - 1, 1)
    mix = amount * (0.5 - 0.5 * np.cos(np.pi * phase))
    illum_amp = cfg.illumination if ev["illumination"] else 0.0
    gain = np.clip(1.0 + 0.6 * illum_amp * smooth_curve(rng, K, _knots(K)), 0.2, None)

    # --- target motion
    speed = cfg.speed * S * (cfg.fast_factor if ev["fast"] else 1.0) * rng.uniform(0.6, 1.4)
    start = np.array([rng.uniform(0.3, 0.7) * W, rng.uniform(0.3, 0.7) * H])
    centres, abrupt_done = _trajectory(rng, cfg, K, w, h, start, speed, ev["abrupt"])
    ev["abrupt"] = abrupt_done
    if ev["out_of_view"]:
        _leave_frame(rng, cfg, centres, w, h)

    hue = rng.random()
    pal0 = _palette(rng, 3, hue=hue, hue_spread=0.3)
    pal1 = _palette(rng, 3, hue=(hue + rng.uniform(-0.25, 0.25)) % 1.0, hue_spread=0.3)
    pattern = PATTERNS[int(rng.integers(len(PATTERNS)))]
    cells = int(rng.integers(2, 6))
    tex_seed = _seed(rng)
    target = Layer(_boxes(centres, w, h), shape, angle, mix, gain, (pal0, pal1), tex_seed, pattern, cells)

    # --- distractors: the target's shape and texture pattern with perturbed colours
    behind, front = [], []
    n_dis = int(rng.integers(cfg.n_distractors[0], cfg.n_distractors[1] + 1)) if ev["distractors"] else 0
    ev["distractors"] = n_dis > 0
    jitter = (1.0 - cfg.distractor_similarity) * 120.0
    for _ in range(n_dis):
        f = rng.uniform(0.8, 1.25)
        near = rng.random() < 0.5
        a = rng.uniform(0, 2 * np.pi)
        off = rng.uniform(1.5, 3.0) * base * np.array([math.cos(a), math.sin(a)])
        st = centres[0] + off if near else np.array([rng.uniform(0.1, 0.9) * W, rng.uniform(0.1, 0.9) * H])
        ar = math.exp(rng.uniform(-0.2, 0.2))
        dw, dh = w * f * ar, h * f / ar
        dc, _ = _trajectory(rng, cfg, K, dw, dh, st, speed * rng.uniform(0.5, 1.2), False)
        pals = tuple(np.clip(pal + rng.normal(0, jitter, pal.shape), 0, 255).astype(np.float32) for pal in (pal0, pal1))
        d = Layer(
            _boxes(dc, dw, dh), shape.copy(), rng.uniform(0, 2 * np.pi) + angle - angle[0],
            mix * rng.uniform(0.0, 1.0), np.ones(K), pals, tex_seed, pattern, cells,
        )
        (front if rng.random() < cfg.p_distractor_front else behind).append(d)

    # --- occluders: planned to cross the target's path at a chosen frame
    n_occ = int(rng.integers(cfg.n_occluders[0], cfg.n_occluders[1] + 1)) if ev["occlusion"] else 0
    for _ in range(n_occ):
        tc = int(rng.integers(K // 10, max(K // 10 + 1, (9 * K) // 10)))
        tw, th = w[tc], h[tc]
        if rng.random() < cfg.p_full_occlusion:
            ow, oh = rng.uniform(1.3, 2.2) * tw + 4, rng.uniform(1.3, 2.2) * th + 4
            oc = centres[tc] + rng.uniform(-0.1, 0.1, 2) * (tw, th)
            p = RECT_P
        else:
            if rng.random() < 0.5:  # vertical bar, partial cover
                ow, oh = rng.uniform(0.25, 0.6) * tw, rng.uniform(1.5, 4.0) * th
            else:
                ow, oh = rng.uniform(1.5, 4.0) * tw, rng.uniform(0.25, 0.6) * th
            oc = centres[tc] + rng.uniform(-0.3, 0.3, 2) * (tw, th)
            p = float(rng.choice([4.0, RECT_P]))
        vel = 0.0 if rng.random() < 0.5 else rng.uniform(0.2, 1.0) * cfg.speed * S
        vdir = rng.uniform(0, 2 * np.pi)
        oc_t = oc + (np.arange(K) - tc)[:, None] * vel * np.array([math.cos(vdir), math.sin(vdir)])
        front.append(Layer(
            _boxes(oc_t, np.full(K, ow), np.full(K, oh)), np.full(K, p), np.full(K, rng.uniform(0, 2 * np.pi)),
            np.zeros(K), np.ones(K), (_palette(rng, 3, sat=(0.1, 0.7)),), _seed(rng),
            PATTERNS[int(rng.integers(len(PATTERNS)))], int(rng.integers(2, 6)),
        ))

    # --- background, camera, illumination, blur
    pad = int(math.ceil(cfg.camera_pan * S))
    camo = rng.random() < 0.3  # background shares the target's hue
    bg_pal = _palette(rng, 4, hue=hue if camo else None, sat=(0.1, 0.6), val=(0.2, 0.9))
    n_cl = cfg.clutter
    cl_size = rng.uniform(0.05, 0.25, (n_cl, 2)) * S
    cl_xy = rng.uniform(0, 1, (n_cl, 2)) * [W + 2 * pad, H + 2 * pad]
    cl_col = _palette(rng, n_cl, sat=(0.2, 0.9))
    if n_cl:  # some clutter in the target's colours
        same = rng.random(n_cl) < 0.25
        cl_col[same] = pal0[rng.integers(0, 3, n_cl)][same]
    cl_p = np.array(list(SHAPES.values()))[rng.integers(0, len(SHAPES), n_cl)]
    background = Background(
        bg_pal, _seed(rng), PATTERNS[int(rng.integers(len(PATTERNS)))], int(rng.integers(3, 9)), pad,
        np.concatenate([cl_xy - cl_size / 2, cl_size], 1), cl_p, cl_col,
    )
    if ev["camera_motion"] and pad > 0:
        cam = pad + pad * 0.95 * np.stack([smooth_curve(rng, K, _knots(K)) for _ in range(2)], 1)
    else:
        cam = np.full((K, 2), float(pad))
    camera = np.clip(np.rint(cam), 0, 2 * pad).astype(np.int64)
    if ev["illumination"]:
        amp = cfg.illumination
        illum = np.stack([1.0 + amp * smooth_curve(rng, K, _knots(K)), amp * smooth_curve(rng, K, _knots(K)),
                          amp * smooth_curve(rng, K, _knots(K))], 1)
        illum[:, 0] = np.clip(illum[:, 0], 0.25, None)
    else:
        illum = np.tile([rng.uniform(0.9, 1.1), 0.0, 0.0], (K, 1))
    blur = np.zeros((K, 2))
    if ev["motion_blur"]:
        vel = np.gradient(centres, axis=0) if K > 1 else np.zeros((K, 2))
        speed_t = np.hypot(vel[:, 0], vel[:, 1])
        floor = rng.uniform(2.0, 5.0) * cfg.blur_strength
        length = np.minimum(np.maximum(speed_t * cfg.blur_strength, floor), 30.0)
        d = np.where(speed_t[:, None] > 1e-6, vel / np.maximum(speed_t, 1e-6)[:, None], [1.0, 0.0])
        blur = d * length[:, None]

    info = {
        "object_class": shape_name,
        "pattern": pattern,
        "speed_px": round(speed, 3),
        "size_px": round(base, 3),
        "n_distractors": n_dis,
        "n_occluders": n_occ,
        "max_blur_px": round(float(np.hypot(blur[:, 0], blur[:, 1]).max(initial=0.0)), 3),
        "appearance_mix": round(float(mix.max(initial=0.0)), 3),
    }
    return Scene(W, H, K, target, background, behind, front, camera, illum, blur, cfg.noise, _seed(rng),
                 {k: bool(v) for k, v in ev.items()}, info)


def _leave_frame(rng, cfg, centres, w, h) -> None:
    """Blend the centre towards a point just past one border and back, so the target is
    fully outside the image for the middle of a window (in place)."""
    K = len(centres)
    L = max(4, int(round(rng.uniform(0.15, 0.3) * K)))
    t1 = int(rng.integers(K // 6, max(K // 6 + 1, K - L)))
    ramp = max(1, L // 4)
    t = np.arange(K, dtype=np.float64)
    up = np.clip((t - t1) / ramp, 0, 1)
    down = np.clip((t1 + L - t) / ramp, 0, 1)
    r = 0.5 - 0.5 * np.cos(np.pi * np.minimum(up, down))
    side = int(rng.integers(4))
    margin = 2.0
    if side == 0:
        centres[:, 0] = (1 - r) * centres[:, 0] + r * (-(w / 2) - margin)
    elif side == 1:
        centres[:, 0] = (1 - r) * centres[:, 0] + r * (cfg.width + w / 2 + margin)
    elif side == 2:
        centres[:, 1] = (1 - r) * centres[:, 1] + r * (-(h / 2) - margin)
    else:
        centres[:, 1] = (1 - r) * centres[:, 1] + r * (cfg.height + h / 2 + margin)


# --------------------------------------------------------------------------- attributes
FAST_MOTION = 0.15  # median centre speed per frame, in target sizes (sqrt(w h))
ABRUPT_MOTION = 1.0  # one step longer than the target size (LaSOT's fast-motion rule)


def scene_attributes(scene: Scene, labels: dict) -> dict[str, int]:
    """Per-sequence 0/1 attribute flags.

    Geometric flags are measured on the realised boxes and pixel counts (so they hold even
    when a staged event happened not to show, e.g. an occluder that missed); appearance
    flags record what was staged: deformation, illumination, motion_blur, camera_motion,
    distractors, appearance_change."""
    b = scene.target.boxes
    c = b[:, :2] + b[:, 2:] / 2
    sz = np.sqrt(b[:, 2] * b[:, 3])
    total, n_in, vis = labels["target_pixels"], labels["in_image_pixels"], labels["visible_pixels"]
    step = np.hypot(*np.diff(c, axis=0).T) / sz[1:] if len(b) > 1 else np.zeros(1)
    area = b[:, 2] * b[:, 3]
    aspect = b[:, 2] / b[:, 3]
    ev = scene.events
    flags = {
        "occlusion": bool((((n_in - vis) / total) >= 0.125).any()),
        "full_occlusion": bool(((n_in > 0) & (vis == 0)).any()),
        "out_of_view": bool((n_in == 0).any()),
        "partial_out_of_view": bool(((n_in > 0) & ((total - n_in) / total >= 0.125)).any()),
        "fast_motion": bool(np.median(step) >= FAST_MOTION),
        "abrupt_motion": bool((step >= ABRUPT_MOTION).any()),
        "scale_variation": bool(((area / area[0] > 2) | (area / area[0] < 0.5)).any()),
        "aspect_ratio_change": bool(((aspect / aspect[0] > 2) | (aspect / aspect[0] < 0.5)).any()),
        "deformation": ev.get("deformation", False),
        "illumination": ev.get("illumination", False),
        "motion_blur": ev.get("motion_blur", False),
        "camera_motion": ev.get("camera_motion", False),
        "distractors": ev.get("distractors", False),
        "appearance_change": bool(scene.target.mix.max(initial=0.0) >= 0.3),
    }
    return {k: int(v) for k, v in flags.items()}
