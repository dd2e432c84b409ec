"""Reading checkpoint files: corrupt files, foreign pickled objects, official OSTrack
training checkpoints with a pickled ``settings`` object."""
from __future__ import annotations

import os
import sys
import types

import pytest
import torch

from trackkit.cli import main as cli_main
from trackkit.errors import DataError
from trackkit.families import get_preset, load_model
from trackkit.models.weights import read_checkpoint, read_state_dict

SETTINGS_MODULE = "lib.train.admin.settings"


@pytest.fixture
def foreign_module(monkeypatch):
    """A module lib.train.admin.settings, importable only inside the test (as the official
    OSTrack code is not installed here); its classes no longer resolve once it is removed."""
    names = ["lib", "lib.train", "lib.train.admin", SETTINGS_MODULE]
    for n in names:
        monkeypatch.setitem(sys.modules, n, types.ModuleType(n))
    mod = sys.modules[SETTINGS_MODULE]
    ran = []

    class Settings:  # as the official one: plain attributes, pickled by reference
        def __init__(self):
            self.script_name, self.use_gpu = "ostrack", True
            self.env = Env()

    class Env(dict):  # a dict subclass (EasyDict-like): its items come through SETITEMS
        pass

    class Payload:  # unpickling this would run code
        def __reduce__(self):
            return (ran.append, ("executed",))

    for cls in (Settings, Env, Payload):
        cls.__module__, cls.__qualname__ = SETTINGS_MODULE, cls.__name__
        setattr(mod, cls.__name__, cls)

    def remove():
        for n in names:
            monkeypatch.delitem(sys.modules, n)

    return types.SimpleNamespace(Settings=Settings, Env=Env, Payload=Payload, remove=remove,
                                 ran=ran)


def test_random_bytes_not_a_checkpoint(tmp_path):
    path = tmp_path / "OSTrack_ep0300.pth.tar"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(DataError) as e:
        read_state_dict(path)
    msg = str(e.value)
    assert str(path) in msg and "not a valid checkpoint" in msg
    assert "trust" not in msg  # no advice to unpickle a file that is simply corrupt


def test_truncated_zip_not_a_checkpoint(tmp_path):
    path = tmp_path / "model.pth"
    torch.save({"net": {"w": torch.randn(64, 64)}}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="not a valid checkpoint") as e:
        read_state_dict(path)
    assert "trust" not in str(e.value)
    with pytest.raises(DataError, match="not a valid checkpoint"):  # even when trusted
        read_state_dict(path, trust=True)


def test_corrupt_safetensors(tmp_path):
    path = tmp_path / "vit.safetensors"
    path.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(DataError, match="not a valid checkpoint"):
        read_state_dict(path)


def test_weights_in_foreign_classes_suggest_trust_naming_them(tmp_path, foreign_module):
    path = tmp_path / "model.pth"
    env = foreign_module.Env(w=torch.ones(2))
    torch.save({"state_dict": env}, path)
    foreign_module.remove()
    with pytest.raises(DataError) as e:
        read_state_dict(path)
    msg = str(e.value)
    assert f"{SETTINGS_MODULE}.Env" in msg and "--trust-checkpoint" in msg


def test_foreign_code_is_never_run(tmp_path, foreign_module):
    path = tmp_path / "model.pth"
    torch.save({"net": {"w": torch.ones(3)}, "payload": foreign_module.Payload()}, path)
    ckpt = read_checkpoint(path)
    assert foreign_module.ran == []  # the payload's callable was replaced by a stub
    assert list(ckpt.state_dict) == ["w"]
    assert "getattr" in ckpt.skipped[0]  # what the payload named, reported, not called


def test_trusted_file_with_its_classes_present(tmp_path, foreign_module):
    path = tmp_path / "model.pth"
    torch.save({"net": {"w": torch.ones(3)}, "settings": foreign_module.Settings()}, path)
    ckpt = read_checkpoint(path, trust=True)
    assert ckpt.skipped == [] and torch.equal(ckpt.state_dict["w"], torch.ones(3))


def test_official_ostrack_checkpoint_with_settings_converts(tmp_path, foreign_module, capsys):
    """An OSTrack_ep0300.pth.tar as the official trainer writes it (net, optimizer, stats,
    settings) converts without the official code and without unpickling its settings."""
    from test_convert import _compare, official_state_dict

    p = get_preset("ostrack-cpu")
    sd = official_state_dict(p.model, seed=5)
    ckpt, out = tmp_path / "OSTrack_ep0300.pth.tar", tmp_path / "converted.pth"
    torch.save({"epoch": 300, "actor_type": "OSTrackActor", "net_type": "OSTrack", "net": sd,
                "net_info": None, "constructor": None,
                "optimizer": {"state": {}, "param_groups": [{"lr": 4e-5}]},
                "stats": None, "settings": foreign_module.Settings()}, ckpt)
    foreign_module.remove()
    with pytest.raises(ImportError):  # the class really does not exist here any more
        __import__(SETTINGS_MODULE)
    assert cli_main(["convert", "ostrack", str(ckpt), str(out), "--preset", "ostrack-cpu"]) == 0
    printed = capsys.readouterr().out
    assert f"{SETTINGS_MODULE}.Settings" in printed and "'settings'" in printed
    assert "under 'net'" in printed
    model, preset = load_model(out)
    _compare(model, sd, preset.model)
