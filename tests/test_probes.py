"""The CE target-retention probe and the dropped-token figure (trackkit.study.probes)."""
from __future__ import annotations

from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from trackkit.study.probes import (DROPPED_SHADE, ce_presets, ce_target_retention, dropped_tokens_figure,  # noqa: E402
                                   probe_pairs)

# search 64 px at factor 2 around a 32 px box: the crop is 64 image px, so 1 crop px = 1 image px;
# a 4 x 4 token grid of 16 px cells
TRACK = SimpleNamespace(template_factor=2.0, template_size=32, search_factor=2.0, search_size=64,
                        mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), border_quirk=True)


class Seq:
    """A grey 200 x 200 sequence whose 32 px target moves ``step`` px right per frame."""

    def __init__(self, n: int = 9, step: float = 0.0, hidden=()):
        self.boxes = np.array([[60 + i * step, 80, 32, 32] for i in range(n)], dtype=np.float64)
        self.visible = np.array([i not in hidden for i in range(n)])
        self.name = f"step{step}"

    def __len__(self):
        return len(self.boxes)

    def frame(self, i):
        img = np.full((200, 200, 3), 40 + i, np.uint8)
        x, y, w, h = self.boxes[i].astype(int)
        img[y:y + h, x:x + w] = 220
        return img


class KeepFixed(torch.nn.Module):
    """Keeps the same search tokens in every CE block; checks what it is fed."""

    feat_size = 4

    def __init__(self, kept, blocks: int = 2):
        super().__init__()
        self.kept, self.blocks, self.calls = list(kept), blocks, []

    def forward(self, template, search, template_box=None):
        self.calls.append((tuple(template.shape), tuple(search.shape), template_box))
        idx = torch.tensor(self.kept).repeat(search.shape[0], 1)
        return {"keep_indices": [idx] * self.blocks}


def test_pairs_step_through_each_sequence_and_skip_invisible_targets():
    zs, xs, zb, xb, gt = probe_pairs([Seq(9), Seq(17, hidden={4, 9})], pairs_per_sequence=4)
    # 9 frames: step 2 -> k = 1, 3, 5, 7; 17 frames: step 4 -> k = 1, 5, 9, 13 minus those next to 4 and 9
    assert len(gt) == 4 + 2 and len(zs) == len(xs) == len(zb) == len(xb) == 6
    assert (xb[:4, 0] == gt[:4, 0]).all()  # a target standing still: previous box = target box


def test_the_centre_token_is_found_where_the_target_is():
    still, moving = Seq(9, step=0.0), Seq(9, step=16.0)
    # standing still: the target's centre is the crop's centre, (64 - 1) / 2 = 31.5 px in
    # OSTrack's convention, so just inside cell (1, 1) -> token 5
    r = ce_target_retention(KeepFixed([5, 0, 1]), TRACK, [still])
    assert r == {"pairs": 8, "target_kept": 100.0, "chance_kept": 100 * 3 / 16, "kept_tokens": 3, "tokens": 16}
    assert ce_target_retention(KeepFixed([6, 0, 1]), TRACK, [still])["target_kept"] == 0.0
    # 16 px (one cell) to the right: 47.5 px -> cell (1, 2) -> token 6
    assert ce_target_retention(KeepFixed([6]), TRACK, [moving])["target_kept"] == 100.0
    assert ce_target_retention(KeepFixed([5]), TRACK, [moving])["target_kept"] == 0.0
    both = ce_target_retention(KeepFixed([5]), TRACK, [still, moving])
    assert both["target_kept"] == 50.0 and both["pairs"] == 16


def test_the_network_sees_tracker_sized_normalised_crops_and_the_template_box():
    model = KeepFixed([5])
    ce_target_retention(model, TRACK, [Seq(9)])
    (zshape, xshape, zbox), = model.calls
    assert zshape == (8, 3, 32, 32) and xshape == (8, 3, 64, 64)
    # template cropped around its own box at factor 2: the box is the central half of the crop
    assert torch.allclose(zbox, torch.tensor([[0.25, 0.25, 0.5, 0.5]]).repeat(8, 1), atol=1 / 32)


def test_no_ce_and_no_pairs_are_errors():
    class NoCE(KeepFixed):
        def forward(self, template, search, template_box=None):
            return {"keep_indices": []}

    with pytest.raises(ValueError, match="no candidate-elimination"):
        ce_target_retention(NoCE([0]), TRACK, [Seq(9)])
    with pytest.raises(ValueError, match="no frame pair"):
        ce_target_retention(KeepFixed([0]), TRACK, [Seq(3, hidden={0, 1, 2})])


def test_real_ce_network_keeps_its_token_counts():
    from trackkit.families import build_model, get_preset

    p = get_preset("ostrack-cpu", ["model.search_size=64", "model.template_size=32", "track.search_size=64",
                                   "track.template_size=32"])
    torch.manual_seed(0)
    model = build_model(p, load_pretrained_weights=False).eval()
    r = ce_target_retention(model, p.track, [Seq(9), Seq(9, step=8.0)])
    counts = p.model.ce_token_counts()
    assert r["tokens"] == counts[0] and r["kept_tokens"] == counts[-1]
    assert r["chance_kept"] == 100 * counts[-1] / counts[0] and 0 <= r["target_kept"] <= 100 and r["pairs"] == 16


def test_dropped_tokens_are_greyed_in_the_figure():
    fig = dropped_tokens_figure(KeepFixed([0, 5, 10, 15], blocks=2), TRACK, Seq(9), ce_blocks=[3, 6])
    axes = fig.axes
    assert len(axes) == 3 and [a.get_title() for a in axes[1:]] == ["after CE block 3: 4 kept",
                                                                    "after CE block 6: 4 kept"]
    crop, shaded = axes[0].images[0].get_array(), axes[1].images[0].get_array()
    kept_cells = [(0, 0), (1, 1), (2, 2), (3, 3)]  # tokens 0, 5, 10, 15 on the diagonal
    for r in range(4):
        for c in range(4):
            a, b = crop[16 * r:16 * r + 16, 16 * c:16 * c + 16], shaded[16 * r:16 * r + 16, 16 * c:16 * c + 16]
            want = a if (r, c) in kept_cells else (DROPPED_SHADE[0] * a + DROPPED_SHADE[1]).astype(np.uint8)
            assert np.array_equal(b, want), (r, c)
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_ce_presets_scale_the_network_and_the_schedule():
    from trackkit.families import get_preset

    base = get_preset("ostrack-cpu")
    budget = dict(train_epochs=10, samples_per_epoch=100, batch_size=8)
    ref, var = ce_presets(base, search_size=192, keep_ratio=0.6, ce_loc=[1], **budget)
    assert ref.model.ce_loc == () and var.model.ce_loc == (1,) and var.model.keep_ratios == (0.6,)
    for p in (ref, var):  # 1.5x the base's 128 px: template 96 px, OSTrack-384's search factor 5
        assert (p.model.search_size, p.model.template_size, p.track.template_size) == (192, 96, 96)
        assert p.track.search_factor == 5.0 and p.train.epochs == 10 and p.train.samples_per_epoch == 100
        # OSTrack's 300-epoch schedule scaled to 10: lr drop at 240 -> 8, CE from 20 -> 1 over 80 -> 3
        assert (p.train.lr_drop_epoch, p.train.ce_start_epoch, p.train.ce_warm_epochs) == (8, 1, 3)
    assert ref.model.embed_dim == var.model.embed_dim == base.model.embed_dim
    same, same_too = ce_presets(base, search_size=128, keep_ratio=1.0, ce_loc=[1, 2], **budget)
    assert same is same_too and same.track.search_factor == base.track.search_factor
    assert ce_presets(base, search_size=128, keep_ratio=0.7, ce_loc=[], **budget)[1].model.ce_loc == ()
    lr_ref, _ = ce_presets(base, search_size=128, keep_ratio=0.7, ce_loc=[1], lr=0.01, search_factor=3.0, **budget)
    assert lr_ref.train.lr == 0.01 and lr_ref.track.search_factor == 3.0
