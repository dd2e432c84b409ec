"""The reference tracker: one trained one-stream network that the other families' CPU studies start from.

At the cpu profile it is the ECE study's 128 px network without CE, initialised from the
procedural MAE (``studies/ece_keep_ratio.yaml``, point ``{search_size: 128, keep_ratio: 1.0,
init: mae}``): :func:`cached_reference_tracker` builds it with exactly that study's calls, so the
settings key is the same and the network is trained once for every study of the main job
(``tests/test_study_reference.py`` checks that the ECE cpu profile names these settings).

Why the decoder families need it (measured, ``fastseqtrack-cpu``, 250 steps of 32 pairs, lr 1e-3):
from the procedural MAE the one-pass decoder's training IoU stays at 0.12-0.17 (it predicts the
mean box: the decoder's four words are too weak a signal to teach the encoder where the target
is in minutes), with the backbone's lr x0.1 as well; from this tracker's encoder it climbs to
0.53 (backbone lr x0.1, SeqTrack's ratio) or 0.51 (frozen). So at CPU scale SeqTrack,
FastSeqTrack, STDTrack and ACTrack start from a localising encoder, every row of an ablation
from the same one: a documented departure from the papers' MAE init (paper scale keeps it).
"""
from __future__ import annotations

from pathlib import Path

# The ECE study's settings of the network (its notebook's parameter names and values).
REFERENCE_PROFILES = {
    "smoke": dict(preset="ostrack-cpu", search_size=128, train_epochs=1, samples_per_epoch=16, batch_size=8,
                  lr=0.0, n_train=4, train_frames=30, synth_preset="easy", pretrain_epochs=1,
                  pretrain_samples=16, pretrain_batch=16, pretrain_loaders=0),
    "cpu": dict(preset="ostrack-cpu", search_size=128, train_epochs=10, samples_per_epoch=1500, batch_size=32,
                lr=0.001, n_train=60, train_frames=100, synth_preset="easy", pretrain_epochs=6,
                pretrain_samples=6144, pretrain_batch=128, pretrain_loaders=1),
}
# The backbone's learning rate relative to the rest when a network starts from the reference
# tracker (SeqTrack's and OSTrack's official ratio: 1e-5 / 1e-4).
BACKBONE_LR_MULT = 0.1


def reference_preset(profile: str, cache_dir: str | Path, device: str = "cpu", keep_ratio: float = 1.0):
    """The reference tracker's preset at ``profile`` (its MAE pretraining built once in ``cache_dir``);
    ``keep_ratio`` < 1: the ECE study's variant trained with CE at blocks 1, 2 (its ``ce_mode:
    trained`` point from the MAE)."""
    from trackkit.errors import ConfigError
    from trackkit.families import get_preset
    from trackkit.pretrain import PretrainConfig
    from trackkit.study.probes import ce_presets
    from trackkit.study.shared import cached_pretraining

    if profile not in REFERENCE_PROFILES:
        raise ConfigError(f"reference={profile!r} is not one of {sorted(REFERENCE_PROFILES)}")
    s = REFERENCE_PROFILES[profile]
    base = get_preset(s["preset"])
    mae = PretrainConfig(epochs=s["pretrain_epochs"], samples_per_epoch=s["pretrain_samples"],
                         batch_size=s["pretrain_batch"], num_workers=s["pretrain_loaders"])
    pretrained = str(cached_pretraining(cache_dir, base, mae, 0, device=device))
    reference, variant = ce_presets(base, search_size=s["search_size"], keep_ratio=keep_ratio, ce_loc=[1, 2],
                                    train_epochs=s["train_epochs"], lr=s["lr"], pretrained=pretrained,
                                    samples_per_epoch=s["samples_per_epoch"], batch_size=s["batch_size"])
    return variant


def cached_reference_tracker(cache_dir: str | Path, profile: str, seed: int = 0, device: str = "cpu"):
    """The reference tracker's :class:`~trackkit.study.shared.TrainedWeights` (trained once per
    settings key, shared with the ECE study)."""
    from trackkit.study.shared import SyntheticData, cached_training

    s = REFERENCE_PROFILES.get(profile, {})
    preset = reference_preset(profile, cache_dir, device)
    return cached_training(cache_dir, preset, data=SyntheticData(s["synth_preset"], s["n_train"], s["train_frames"]),
                           seed=seed, device=device)


def start_from_reference(profile: str, cache_dir: str | Path, seed: int = 0, device: str = "cpu") -> list[str]:
    """Preset overrides that start a network from the reference tracker's backbone
    (``model.init_tracker``, backbone lr x :data:`BACKBONE_LR_MULT`); ``profile`` '' -> none."""
    if not profile:
        return []
    w = cached_reference_tracker(cache_dir, profile, seed, device)
    return [f"model.init_tracker={w.path}", f"train.backbone_lr_mult={BACKBONE_LR_MULT}"]


def lineup_weights(studies_dir: str | Path, cache_dir: str | Path, profile: str = "cpu") -> dict[str, Path]:
    """{tracker: weights file} of the trackers study's networks (its ``profile`` runs at the
    default training seed), as far as they are in ``cache_dir``; {} when that study has not run.
    Each file names its preset (:func:`trackkit.families.load_model`)."""
    from trackkit.study.records import load_manifests, read_metrics, run_dir
    from trackkit.study.shared import WEIGHTS_FILE

    out: dict[str, Path] = {}
    for m in load_manifests(studies_dir):
        if m.get("study") != "trackers" or m.get("profile") != profile:
            continue
        for run in m["runs"]:
            p = run["params"]
            if p.get("tracker") in (None, "all", "init_box") or int(p.get("train_seed", -1)) >= 0:
                continue
            key = read_metrics(run_dir(studies_dir, "trackers", run["key"])).get("weights_key")
            path = Path(cache_dir) / "weights" / str(key) / WEIGHTS_FILE
            if key and path.is_file():
                out.setdefault(p["tracker"], path)
    return out
