"""`trackkit train` end to end at toy size: outputs, resume guard, override errors."""
import json

import torch

from trackkit.cli import main

TINY = ["--preset", "ostrack-cpu", "--set", "train.epochs=1", "--set", "train.samples_per_epoch=4",
        "--set", "train.batch_size=2", "--synth-sequences", "2", "--synth-frames", "20", "--no-progress",
        "--device", "cpu"]


def test_train_cli_writes_run_folder_and_guards_resume(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"checkpoint.pth", "model.pth", "log.json", "preset.json"}
    preset = json.loads((out / "preset.json").read_text())
    assert preset["name"] == "ostrack-cpu" and preset["train"]["epochs"] == 1
    assert preset["overrides"][0] == "train.epochs=1"
    log = json.loads((out / "log.json").read_text())
    assert len(log) == 1 and log[0]["samples"] == 4
    # final weights load into the tracker of the same preset
    from trackkit.families import build_tracker
    tracker = build_tracker("ostrack-cpu", weights=str(out / "model.pth"))
    sd = torch.load(out / "checkpoint.pth", weights_only=False)["model"]
    assert all(torch.equal(v, sd[k]) for k, v in tracker.model.state_dict().items())
    # a second run into the same folder needs --resume; --resume of a finished run is a no-op
    assert main(["train", *TINY, "--out", str(out)]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["train", *TINY, "--out", str(out), "--resume"]) == 0
    assert len(json.loads((out / "log.json").read_text())) == 1


def test_train_cli_rejects_bad_override(tmp_path, capsys):
    assert main(["train", "--preset", "ostrack-cpu", "--set", "train.epochz=3", "--out", str(tmp_path)]) == 2
    assert "epochz" in capsys.readouterr().err
