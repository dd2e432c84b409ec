"""The reference tracker: the ECE study's network, shared by the other studies through the cache."""
from pathlib import Path

import pytest
import torch
import yaml

from trackkit.errors import ConfigError, DataError
from trackkit.families import build_model, get_preset, save_model
from trackkit.study.reference import REFERENCE_PROFILES, reference_preset, start_from_reference

STUDIES = Path(__file__).resolve().parents[1] / "studies"


@pytest.mark.parametrize("profile", sorted(REFERENCE_PROFILES))
def test_the_ece_study_trains_the_reference_with_the_same_settings(profile):
    """One training for every study: the ECE study's MAE point at this profile names exactly the
    reference's settings (so cached_training computes the same key)."""
    study = yaml.safe_load((STUDIES / "ece_keep_ratio.yaml").read_text())
    params = {**study["params"], **study["profiles"][profile]["params"]}
    points = [{**params, **p} for p in study["profiles"][profile].get("points", study["points"])]
    # a point that trains the 128 px network without CE from the MAE: keep ratio 1.0, or CE at inference only
    trains_it = [p for p in points if p.get("init") == "mae" and p["search_size"] == 128
                 and (p["keep_ratio"] == 1.0 or p.get("ce_mode") == "inference")]
    assert trains_it
    for k, v in REFERENCE_PROFILES[profile].items():
        assert trains_it[0][k] == v, (profile, k)


@pytest.mark.parametrize("study", ["early_exit", "fastseqtrack_ablation", "stdtrack_ablation", "stm", "frozen_vs_tuned"])
def test_cpu_studies_start_from_the_reference(study):
    s = yaml.safe_load((STUDIES / f"{study}.yaml").read_text())
    assert s["profiles"]["cpu"]["params"]["reference"] == "cpu"
    assert s["profiles"]["smoke"]["params"]["reference"] == "smoke"
    assert s["profiles"]["gpu"]["params"]["reference"] == ""


def test_reference_preset_is_the_ece_reference(tmp_path):
    p = reference_preset("smoke", tmp_path)
    assert p.model.ce_loc == () and p.model.search_size == 128 and p.model.pretrained.endswith("mae_pretrain.pth")
    assert start_from_reference("", tmp_path) == []
    with pytest.raises(ConfigError, match="reference='nope'"):
        reference_preset("nope", tmp_path)


@pytest.mark.parametrize("name", ["seqtrack-cpu", "fastseqtrack-cpu", "stdtrack-cpu-full", "actrack-cpu"])
def test_every_family_starts_from_a_trained_trackers_backbone(tmp_path, name):
    torch.manual_seed(3)
    ost = get_preset("ostrack-cpu-noce")
    tracker = build_model(ost)
    save_model(tmp_path / "ost.pth", tracker, ost)
    model = build_model(get_preset(name, [f"model.init_tracker={tmp_path / 'ost.pth'}"]))
    own = model.backbone.state_dict()
    for k, v in tracker.backbone.state_dict().items():
        assert torch.equal(own[k], v), k
    # loading saved weights does not read init_tracker again (the file may be gone by then)
    (tmp_path / "ost.pth").unlink()
    build_model(get_preset(name, [f"model.init_tracker={tmp_path / 'ost.pth'}"]), load_pretrained_weights=False)
    with pytest.raises(DataError, match="ost.pth"):
        build_model(get_preset(name, [f"model.init_tracker={tmp_path / 'ost.pth'}"]))


def test_pretrained_and_init_tracker_are_exclusive():
    with pytest.raises(ConfigError, match="not both"):
        get_preset("seqtrack-cpu", ["model.pretrained=a.pth", "model.init_tracker=b.pth"])


@pytest.mark.parametrize("profile", ["smoke", "cpu"])
def test_the_trackers_study_names_the_family_studies_networks(profile):
    """The side-by-side table re-uses the family studies' networks: its budgets must be theirs."""
    def params(study):
        s = yaml.safe_load((STUDIES / f"{study}.yaml").read_text())
        return {**s["params"], **s["profiles"][profile]["params"]}

    t = params("trackers")
    seq, std, act = params("fastseqtrack_ablation"), params("stdtrack_ablation"), params("frozen_vs_tuned")
    assert (t["seq_epochs"], t["seq_samples"], t["seq_batch"]) == (seq["train_epochs"], seq["samples_per_epoch"],
                                                                  seq["batch_size"])
    assert (t["std_epochs"], t["std_samples"], t["std_batch"], t["std_clip"], t["std_lr"]) == (
        std["train_epochs"], std["samples_per_epoch"], std["batch_size"], std["clip_length"], std["lr"])
    assert (t["act_epochs"], t["act_samples"], t["act_batch"]) == (act["train_epochs"], act["samples_per_epoch"],
                                                                  act["batch_size"])
    ref = REFERENCE_PROFILES[profile]
    for p in (t, seq, std):
        assert (p["n_train"], p["train_frames"], p["synth_preset"]) == (ref["n_train"], ref["train_frames"],
                                                                        ref["synth_preset"])


def test_report_labels_are_text():
    """A comma inside a YAML flow mapping ends the value: `{m: fps (batch 16, own run)}` parses as
    `m: 'fps (batch 16'` and a stray key `'own run)': None`. Every study's labels must survive."""
    for path in sorted((Path(__file__).resolve().parents[1] / "studies").glob("*.yaml")):
        report = yaml.safe_load(path.read_text()).get("report") or {}
        for key, label in (report.get("metrics") or {}).items():
            assert isinstance(label, str) and label.count("(") == label.count(")"), (path.name, key, label)
