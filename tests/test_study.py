"""Study runner: validation, caching, failure isolation, resume after SIGKILL, submitit."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from trackkit.cli import main as cli_main
from trackkit.errors import ConfigError
from trackkit.study import load_study, run_study
from trackkit.study.records import read_record

FIXTURES = Path(__file__).parent / "notebooks_fixtures"
TOY = FIXTURES / "toy.py"
REPO = Path(__file__).resolve().parents[1]


def write_study(tmp_path: Path, body: str, notebook: Path = TOY, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(f"notebook: {notebook}\n" + textwrap.dedent(body))
    return path


def records_by_params(result) -> dict:
    return {json.dumps(r["params"], sort_keys=True): r for r in result.records}


# ---------------------------------------------------------------- spec validation (no kernels)

def test_runs_grid_points_seeds_and_profiles():
    study = load_study(FIXTURES / "toy.yaml")
    assert study.runs() == [{"y": 0.5, "x": 1, "seed": 0}, {"y": 0.5, "x": 2, "seed": 0},
                            {"y": 1.0, "x": 3, "seed": 0}]
    # profile grid axis replaces the study's, profile seeds replace the study's
    assert study.runs("two_seeds") == [{"y": 0.5, "x": 1, "seed": 0}, {"y": 0.5, "x": 1, "seed": 1},
                                       {"y": 1.0, "x": 3, "seed": 0}, {"y": 1.0, "x": 3, "seed": 1}]


@pytest.mark.parametrize("body, line, needle", [
    ("name: s\nparams: {x: 1, bogus: 2}\nprofiles: {cpu: {}}\n", 3, "unknown notebook parameter 'bogus'"),
    ("name: s\nprofiles:\n  cpu:\n    params: {nope: 1}\n", 5, "unknown notebook parameter 'nope'"),
    ("name: s\ngrid: {x: 3}\nprofiles: {cpu: {}}\n", 3, "must be a non-empty list"),
    ("name: s\nparams: {record_dir: a}\nprofiles: {cpu: {}}\n", 3, "set by the runner"),
    ("name: s\nprofiles: {cpu: {seeds: [a]}}\n", 3, "seeds must be a non-empty list of integers"),
    ("name: s\ngrids: {x: [1]}\nprofiles: {cpu: {}}\n", 3, "unknown key 'grids'"),
    ("name: s\nprofiles: {cpu: {parms: {}}}\n", 3, "unknown key 'parms'"),
    ("name: s\nparams: {x: 1}\ngrid: {x: [1, 2]}\nprofiles: {cpu: {}}\n", 4, "both a fixed param and a grid axis"),
    ("name: s\n", None, "missing required key 'profiles'"),
    ("name: s\nprofiles: [cpu\n", None, "invalid YAML"),
])
def test_validation_errors_name_file_line_and_problem(tmp_path, body, line, needle):
    path = write_study(tmp_path, body)
    with pytest.raises(ConfigError) as e:
        load_study(path)
    msg = str(e.value)
    assert needle in msg and str(path) in msg
    if line is not None:
        assert f"{path}:{line}:" in msg


def test_unknown_profile_and_missing_notebook(tmp_path):
    study = load_study(FIXTURES / "toy.yaml")
    with pytest.raises(ConfigError, match="unknown profile 'gpu'.*smoke, two_seeds"):
        study.runs("gpu")
    path = write_study(tmp_path, "name: s\nprofiles: {cpu: {}}\n", notebook=tmp_path / "missing.py")
    with pytest.raises(ConfigError, match="notebook not found"):
        load_study(path)


def test_seeds_need_a_seed_parameter(tmp_path):
    nb = tmp_path / "noseed.py"
    nb.write_text('# %% tags=["parameters"]\nx = 1\n\n# %%\nprint(x)\n')
    path = write_study(tmp_path, "name: s\nseeds: [0, 1]\nprofiles: {cpu: {}}\n", notebook=nb)
    with pytest.raises(ConfigError, match="no 'seed' parameter"):
        load_study(path)


# ---------------------------------------------------------------- execution

def test_records_caching_and_selective_rerun(tmp_path):
    out = tmp_path / "out"
    nb = tmp_path / "toy.py"
    nb.write_text(TOY.read_text())
    path = write_study(tmp_path, "name: s\nparams: {y: 0.5}\ngrid: {x: [1, 2]}\nprofiles: {cpu: {}}\n",
                       notebook=nb)
    first = run_study(path, out=out, workers=2, code_version="v1", progress=False)
    assert (first.executed, first.cached) == (2, 0) and first.ok
    rec = first.records[0]
    assert rec["status"] == "ok" and rec["params"] == {"y": 0.5, "x": 1}
    assert rec["metrics"]["x_times_y"] == 0.5 and rec["tables"] == ["sequences"]
    assert rec["code_version"] == "v1" and rec["duration_s"] > 0 and len(rec["cell_durations_s"]) == 6  # 5 cells + injected-parameters
    assert len({r["key"] for r in first.records}) == 2
    snapshot = {p: p.read_bytes() for p in out.rglob("record.json")}
    # same study again: nothing executes, records untouched
    again = run_study(path, out=out, workers=2, code_version="v1", progress=False)
    assert (again.executed, again.cached) == (0, 2)
    assert {p: p.read_bytes() for p in out.rglob("record.json")} == snapshot
    # one grid value changed: only that point runs
    path.write_text(path.read_text().replace("x: [1, 2]", "x: [1, 5]"))
    changed = run_study(path, out=out, workers=2, code_version="v1", progress=False)
    assert (changed.executed, changed.cached) == (1, 1)
    assert records_by_params(changed)['{"x": 5, "y": 0.5}']["metrics"]["x_times_y"] == 2.5
    # the notebook's code changed: every point reruns
    nb.write_text(TOY.read_text().replace("rng.random(5) / 10", "rng.random(5) / 100"))
    assert run_study(path, out=out, workers=2, code_version="v1", progress=False).executed == 2


def test_code_version_change_and_force_rerun(tmp_path):
    path = write_study(tmp_path, "name: s\npoints: [{x: 7}]\nprofiles: {cpu: {}}\n")
    assert run_study(path, out=tmp_path / "o", code_version="a", progress=False).executed == 1
    assert run_study(path, out=tmp_path / "o", code_version="a", progress=False).executed == 0
    assert run_study(path, out=tmp_path / "o", code_version="b", progress=False).executed == 1
    assert run_study(path, out=tmp_path / "o", code_version="b", progress=False, force=True).executed == 1


@pytest.fixture
def pinned_code_version(monkeypatch):
    """Other work edits trackkit while tests run: pin the code version the CLI computes."""
    monkeypatch.setattr("trackkit.study.cache.code_version", lambda root=None: "pinned")


def test_failures_are_isolated_and_recorded(tmp_path, capsys, pinned_code_version):
    path = write_study(tmp_path, """\
        name: fails
        timeout_s: 4
        points:
          - {x: 1, mode: ok}
          - {x: 2, mode: raise}
          - {x: 3, mode: die}
          - {x: 4, mode: sleep, sleep_s: 30}
        profiles: {cpu: {}}
        """)
    out = tmp_path / "out"
    code = cli_main(["study", "run", str(path), "--out", str(out), "--workers", "2", "--no-progress"])
    assert code == 1
    report = capsys.readouterr().out
    assert "4 runs, 4 executed, 0 cached, 3 failed" in report
    recs = {r["params"]["x"]: r for r in map(read_record, (out / "fails" / "runs").iterdir())}
    assert recs[1]["status"] == "ok" and recs[1]["metrics"]["x_times_y"] == 0.5
    assert recs[2]["status"] == "failed" and recs[2]["error"]["type"] == "ValueError"
    assert "toy failure x=2" in recs[2]["error"]["message"] and "toy failure" in recs[2]["error"]["traceback"]
    assert recs[3]["status"] == "failed" and recs[3]["error"]["type"] == "DeadKernelError"
    assert recs[4]["status"] == "failed" and recs[4]["error"]["type"] == "CellTimeoutError"
    assert recs[4]["duration_s"] < 25
    # failed runs count as finished: a rerun executes nothing unless asked
    code = cli_main(["study", "run", str(path), "--out", str(out), "--no-progress"])
    assert code == 1 and "0 executed, 4 cached, 3 failed" in capsys.readouterr().out


def test_several_studies_share_one_pool(tmp_path, capsys, pinned_code_version):
    """`study run A B`: one pool, so B's runs go to the worker A's short run frees while A's long
    run goes on; each study keeps its own records and manifest, and a rerun executes nothing."""
    slow = write_study(tmp_path, """\
        name: slow
        points:
          - {x: 1, mode: sleep, sleep_s: 12}
          - {x: 2}
        profiles: {cpu: {}}
        """, name="slow.yaml")
    quick = write_study(tmp_path, "name: quick\npoints: [{x: 3}, {x: 4}]\nprofiles: {cpu: {}}\n", name="quick.yaml")
    out = tmp_path / "out"
    args = ["study", "run", str(slow), str(quick), "--out", str(out), "--workers", "2", "--no-progress"]
    assert cli_main(args) == 0
    report = capsys.readouterr().out
    assert "slow[cpu]: 2 runs, 2 executed" in report and "quick[cpu]: 2 runs, 2 executed" in report
    recs = {r["params"]["x"]: r for st in ("slow", "quick") for r in map(read_record, (out / st / "runs").iterdir())}
    assert {x: r["study"] for x, r in recs.items()} == {1: "slow", 2: "slow", 3: "quick", 4: "quick"}
    assert all(r["status"] == "ok" for r in recs.values())
    # the quick study's runs started before the slow study's long run ended
    assert max(recs[3]["started"], recs[4]["started"]) < recs[1]["finished"]
    for st in ("slow", "quick"):
        manifest = json.loads((out / st / "cpu.json").read_text())
        assert manifest["finished"] and manifest["n_runs"] == 2 and manifest["n_failed"] == 0
    assert cli_main(args) == 0
    assert "0 executed, 2 cached" in capsys.readouterr().out


_RUNNER = """
import sys
from trackkit.study import run_study
r = run_study(sys.argv[1], out=sys.argv[2], workers=int(sys.argv[3]), code_version="pinned", progress=False)
print("EXECUTED", r.executed)
"""


def test_resume_after_sigkill(tmp_path):
    """SIGKILL the runner mid-grid; the restart reruns exactly the unfinished runs.

    Two workers, so this also checks that pool workers die with the runner.
    """
    n, workers = 5, 2
    points = "\n".join(f"  - {{x: {i}, mode: sleep, sleep_s: 0.5}}" for i in range(n))
    path = write_study(tmp_path, f"name: k\npoints:\n{points}\nprofiles: {{cpu: {{}}}}\n")
    out = tmp_path / "out"
    runs = out / "k" / "runs"
    proc = subprocess.Popen([sys.executable, "-c", _RUNNER, str(path), str(out), str(workers)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def finished():
        recs = [read_record(d) for d in runs.iterdir()] if runs.exists() else []
        return {r["key"] for r in recs if r and r["status"] in ("ok", "failed")}

    deadline = time.monotonic() + 90
    while len(finished()) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1.5)  # workers die with the runner (PDEATHSIG): nothing finishes after the kill
    done = finished()
    assert 2 <= len(done) < n, "kill did not land mid-grid"
    snapshot = {k: (runs / k / "record.json").read_bytes() for k in done}
    assert finished() == done
    result = run_study(path, out=out, workers=workers, code_version="pinned", progress=False)
    assert result.executed == n - len(done) and result.cached == len(done) and result.ok
    assert {k: (runs / k / "record.json").read_bytes() for k in done} == snapshot
    assert {r["params"]["x"] for r in result.records} == set(range(n))


def test_submitit_executor(tmp_path):
    path = write_study(tmp_path, "name: sub\npoints: [{x: 1}, {x: 2, mode: raise}]\nprofiles: {cpu: {}}\n"
                                 "cluster: {timeout_min: 5}\n")
    out = tmp_path / "out"
    result = run_study(path, out=out, workers=2, executor="submitit", cluster="local",
                       code_version="v", progress=False)
    by_x = {r["params"]["x"]: r for r in result.records}
    assert by_x[1]["status"] == "ok" and by_x[1]["metrics"]["x_times_y"] == 0.5
    assert by_x[2]["status"] == "failed" and by_x[2]["error"]["type"] == "ValueError"
    # records are shared with the local executor: nothing left to do there
    assert run_study(path, out=out, code_version="v", progress=False).executed == 0


def test_cli_check_and_list(tmp_path, capsys, pinned_code_version):
    assert cli_main(["study", "check", str(FIXTURES / "toy.yaml")]) == 0
    assert "toy[two_seeds]: 4 runs" in capsys.readouterr().out
    assert cli_main(["study", "list", str(FIXTURES / "toy.yaml"), "--out", str(tmp_path)]) == 0
    assert capsys.readouterr().out.count("todo") == 3
    assert cli_main(["study", "run", str(FIXTURES / "toy.yaml"), "--profile", "gpu",
                     "--out", str(tmp_path)]) == 2
    assert "unknown profile 'gpu'" in capsys.readouterr().err


@pytest.mark.parametrize("path", sorted((REPO / "studies").glob("*.yaml")), ids=lambda p: p.name)
def test_committed_study_files_validate(path):
    """Every committed study validates against its notebook, every profile (once it exists)."""
    import yaml

    nb = (path.parent / yaml.safe_load(path.read_text())["notebook"]).resolve()
    if not nb.exists():
        pytest.skip(f"{nb} not written yet")
    study = load_study(path)
    for name in ("smoke", "cpu", "gpu"):
        assert study.runs(name), name


# ---------------------------------------------------------------- progress inside kernels

def test_kernels_print_progress_as_summary_lines(tmp_path):
    """The runner sets TRACKKIT_PROGRESS=lines for its kernels: a 500-step bar leaves one
    line in the run's output, not one per refresh; the runner's own environment is restored."""
    from trackkit.progress import ENV
    from trackkit.study.runner import OUTPUT_LOG

    nb = tmp_path / "bars.py"
    nb.write_text(TOY.read_text() + textwrap.dedent("""
        # %%
        from trackkit.progress import progress

        for _ in progress(range(500), desc="work", unit="step"):
            time.sleep(0.0005)
        record(record_dir, progress_env=os.environ.get("TRACKKIT_PROGRESS"))
        """))
    path = write_study(tmp_path, "name: s\npoints: [{x: 1}]\nprofiles: {cpu: {}}\n", notebook=nb)
    before = os.environ.get(ENV)
    result = run_study(path, out=tmp_path / "o", code_version="v", progress=False)
    rec = result.records[0]
    assert rec["status"] == "ok", rec["error"]
    assert rec["metrics"]["progress_env"] == "lines" and os.environ.get(ENV) == before
    log = [line for line in (tmp_path / "o" / "s" / "runs" / rec["key"] / OUTPUT_LOG).read_text().splitlines()
           if line.strip()]
    assert len(log) == 1 and log[0].startswith("work: 500/500 step in "), log


def test_progress_modes(monkeypatch, capsys):
    from tqdm.auto import tqdm

    from trackkit import progress as pg

    monkeypatch.setenv(pg.ENV, "lines")
    assert pg.batch_mode()
    bar = pg.progress(range(10), desc="quiet", min_interval=0.0)
    assert isinstance(bar, pg.LineProgress) and list(bar) == list(range(10))
    err = capsys.readouterr().err.splitlines()
    # min_interval=0: the 25 / 50 / 75% marks print, then the summary
    assert [e.split(" (")[0] for e in err[:3]] == ["quiet: 25%", "quiet: 50%", "quiet: 75%"]
    assert err[3].startswith("quiet: 10/10 it in ") and len(err) == 4
    with pg.progress(total=1000, desc="long", unit="frame") as b:  # default: no milestones within 30 s
        for _ in range(1000):
            b.update()
        b.set_postfix(loss=0.5)
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("long: 1000/1000 frame in ") and line.endswith(" | loss=0.5")
    with pg.progress(total=3, desc="inner", leave=False) as b:
        b.update(3)
    with pg.progress(total=3, desc="off", disable=True) as b:
        b.update(3)
    assert capsys.readouterr().err == ""  # a vanishing bar and a disabled one print nothing

    monkeypatch.setenv(pg.ENV, "bars")
    bar = pg.progress(total=2, desc="drawn", disable=True)
    assert isinstance(bar, tqdm)
    bar.close()
    monkeypatch.setenv(pg.ENV, "nonsense")
    with pytest.raises(ValueError, match="TRACKKIT_PROGRESS"):
        pg.batch_mode()
    monkeypatch.delenv(pg.ENV)
    assert pg.batch_mode()  # pytest captures stderr: not a terminal, not Jupyter
