"""The study cache's pretraining artifact (trackkit.study.shared.cached_pretraining): built once
per settings key, shared by presets with the same ViT, resumed exactly, loadable by trackers."""
from __future__ import annotations

import json

import pytest
import torch

from trackkit.families import build_model, get_preset
from trackkit.pretrain import CHECKPOINT, WEIGHTS, PretrainConfig, pretrain_preset
from trackkit.study.shared import CODE_VERSION_ENV, META_FILE, cached_pretraining, pretraining_settings, settings_key

# a ViT small enough for fast tests: 32 px images, 8 px patches (4 x 4 grid), as tests/test_pretrain.py
TINY_MODEL = ["model.embed_dim=32", "model.depth=1", "model.ce_loc=()", "model.num_heads=2", "model.patch_size=8",
              "model.pretrained_grid=4"]
TINY = PretrainConfig(epochs=2, samples_per_epoch=32, batch_size=16, synth_frames_per_scene=1,
                      synth_crops_per_frame=8, decoder_dim=16, decoder_heads=2, warmup_epochs=0.5, num_workers=0)


@pytest.fixture(autouse=True)
def pinned_code(monkeypatch):
    monkeypatch.setenv(CODE_VERSION_ENV, "test-shared-pretrain")


def tiny(name="ostrack-cpu", extra=()):
    return get_preset(name, TINY_MODEL + list(extra))


def weights(path):
    return torch.load(path, weights_only=True)["model"]


def test_built_once_and_shared_by_presets_with_the_same_vit(tmp_path):
    said = []
    path = cached_pretraining(tmp_path, tiny(), TINY, 0, progress=False, log=said.append)
    assert path.name == WEIGHTS and path.parent.parent == tmp_path / "pretrain"
    meta = json.loads((path.parent / META_FILE).read_text())
    assert [r["epoch"] for r in meta["log"]] == [1, 2] and not meta["resumed"]
    assert meta["key"] == path.parent.name and len(said) == 1
    first = weights(path)
    # another preset and another head have the same ViT: the same artifact, not rebuilt
    again = cached_pretraining(tmp_path, tiny("ostrack-cpu-noce", ["model.head_channels=16"]), TINY, 0,
                               progress=False, log=said.append)
    assert again == path and len(said) == 1
    assert all(torch.equal(first[k], v) for k, v in weights(again).items())
    # what changes the weights changes the key: seed, pretraining config, ViT, crop factors
    other_keys = {
        settings_key(pretraining_settings(tiny(), TINY, 1)),
        settings_key(pretraining_settings(tiny(), PretrainConfig(**{**TINY.to_dict(), "mask_ratio": 0.5}), 0)),
        settings_key(pretraining_settings(tiny(extra=["model.depth=2"]), TINY, 0)),
        settings_key(pretraining_settings(tiny(extra=["track.search_factor=5.0"]), TINY, 0)),
    }
    assert len(other_keys) == 4 and path.parent.name not in other_keys
    seed1 = cached_pretraining(tmp_path, tiny(), TINY, 1, progress=False, log=None)
    assert seed1 != path and not torch.equal(weights(seed1)["blocks.0.attn.qkv.weight"],
                                             first["blocks.0.attn.qkv.weight"])


def test_an_interrupted_build_resumes_exactly(tmp_path):
    whole = cached_pretraining(tmp_path / "a", tiny(), TINY, 0, progress=False, log=None)
    # an interrupted build: the same folder with only epoch 1's checkpoint in it
    folder = tmp_path / "b" / "pretrain" / whole.parent.name
    pretrain_preset(tiny(), TINY, folder, seed=0, stop_after_epoch=1, progress=False)
    assert (folder / CHECKPOINT).is_file() and not (folder / WEIGHTS).exists()
    resumed = cached_pretraining(tmp_path / "b", tiny(), TINY, 0, progress=False, log=None)
    assert resumed == folder / WEIGHTS and json.loads((folder / META_FILE).read_text())["resumed"]
    a, b = weights(whole), weights(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_the_artifact_loads_into_a_tracker(tmp_path):
    path = cached_pretraining(tmp_path, tiny(), TINY, 0, progress=False, log=None)
    sd = weights(path)
    net = build_model(tiny("ostrack-cpu-noce", [f"model.pretrained={path}"]))
    for k, v in net.backbone.state_dict().items():
        if k.startswith(("blocks.", "norm.", "patch_embed.")):
            assert torch.equal(v, sd[k]), k
