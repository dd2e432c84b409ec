import os
import stat

import pytest

from trackkit.atomic import atomic_open, write_json, write_text


def test_write_replaces_whole_file(tmp_path):
    p = tmp_path / "a" / "f.txt"
    write_text(p, "one\n")
    write_text(p, "two\n")
    assert p.read_text() == "two\n"
    assert [x.name for x in p.parent.iterdir()] == ["f.txt"]  # no temporary left behind


def test_failed_write_keeps_old_content_and_leaves_no_temp(tmp_path):
    p = tmp_path / "f.txt"
    write_text(p, "old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(p) as fh:
            fh.write("half")
            raise RuntimeError("crash mid-write")
    assert p.read_text() == "old\n"
    assert [x.name for x in tmp_path.iterdir()] == ["f.txt"]


def test_mode_follows_umask_like_open(tmp_path, monkeypatch):
    old = os.umask(0o022)
    monkeypatch.setattr("trackkit.atomic._UMASK", None)
    try:
        write_json(tmp_path / "r.json", {"a": 1})
        assert stat.S_IMODE((tmp_path / "r.json").stat().st_mode) == 0o644
    finally:
        os.umask(old)


def test_read_modes_are_refused(tmp_path):
    with pytest.raises(ValueError):
        with atomic_open(tmp_path / "x", "r"):
            pass
