"""Study files: a notebook, a parameter grid, seeds and named profiles, read from YAML.

A study file looks like::

    name: ece
    notebook: ../notebooks/ece.py     # relative to this file; .ipynb or a jupytext .py script
    description: one line shown in the report
    params: {epochs: 2}               # fixed parameters of every run
    grid:                             # cartesian product of these axes ...
      search_size: [256, 384]
      ce: [false, true]
    points:                           # ... plus these explicit points (optional)
      - {search_size: 128, ce: true}
    seeds: [0, 1]                     # each point runs once per seed (parameter ``seed``)
    timeout_s: 600                    # per-cell timeout (optional)
    default_profile: cpu
    profiles:                         # named sets of overrides
      smoke: {params: {epochs: 1}, grid: {search_size: [128]}, seeds: [0]}
      cpu: {}
      gpu: {params: {epochs: 300}}
    report: {...}                     # read by ``trackkit report`` (see trackkit.report)
    cluster: {timeout_min: 60, gpus_per_node: 1}   # submitit parameters (optional)

A profile's ``params`` override the study's, its ``grid`` axes replace (or add to) the
study's axes of the same name, and its ``points`` / ``seeds`` / ``timeout_s`` replace the
study's. Every parameter name must be one the notebook declares in its cell tagged
``parameters`` (as papermill's inspection reads it); ``record_dir`` is injected by the runner
and may not be set here.
"""
from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from trackkit.errors import ConfigError

# The runner passes the run's output folder under this name (see trackkit.study.records).
RECORD_PARAM = "record_dir"
SEED_PARAM = "seed"

_TOP_KEYS = {"name", "description", "notebook", "params", "grid", "points", "seeds", "timeout_s",
             "default_profile", "profiles", "report", "cluster", "kernel"}
_PROFILE_KEYS = {"description", "params", "grid", "points", "seeds", "timeout_s"}


def _error(path: Path, line: int | None, problem: str) -> ConfigError:
    where = f"{path}:{line}" if line else str(path)
    return ConfigError(f"{where}: {problem}")


def _load_yaml(path: Path) -> tuple[Any, dict[tuple, int]]:
    """YAML data plus the 1-based line of every mapping key / sequence item, by key path."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise _error(path, None, f"cannot read study file ({e.strerror})") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise _error(path, mark.line + 1 if mark else None, f"invalid YAML: {getattr(e, 'problem', e)}") from None
    finally:
        loader.dispose()
    lines: dict[tuple, int] = {}

    def walk(n, prefix):
        lines.setdefault(prefix, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                lines[prefix + (k.value,)] = k.start_mark.line + 1
                walk(v, prefix + (k.value,))
        elif isinstance(n, yaml.SequenceNode):
            for i, v in enumerate(n.value):
                walk(v, prefix + (i,))

    if node is not None:
        walk(node, ())
    return data, lines


def load_notebook(path: str | Path):
    """A notebook as an nbformat v4 NotebookNode; ``.py``/``.md`` files are read with jupytext."""
    path = Path(path)
    if path.suffix == ".ipynb":
        import nbformat

        return nbformat.read(path, as_version=4)
    import jupytext

    return jupytext.read(path)


def notebook_parameters(nb) -> dict[str, dict]:
    """The parameters declared in the notebook's cell tagged ``parameters``.

    Uses papermill's translator inspection (the same parser as ``papermill --help-notebook``):
    name -> {name, inferred_type_name, default, help}.
    """
    from papermill.translators import papermill_translators

    cell = next((c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        return {}
    kernel = nb.metadata.get("kernelspec", {}).get("name", "python3")
    language = nb.metadata.get("kernelspec", {}).get("language") or \
        nb.metadata.get("language_info", {}).get("name", "python")
    translator = papermill_translators.find_translator(kernel, language)
    return {p.name: p._asdict() for p in translator.inspect(cell)}


@dataclass(frozen=True)
class Profile:
    name: str
    description: str = ""
    params: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)
    points: list | None = None
    seeds: list | None = None
    timeout_s: float | None = None


@dataclass(frozen=True)
class Study:
    """A validated study file. ``runs(profile)`` lists the parameters of every run."""

    name: str
    path: Path
    notebook: Path
    description: str = ""
    params: dict = field(default_factory=dict)
    grid: dict = field(default_factory=dict)
    points: list = field(default_factory=list)
    seeds: list | None = None
    timeout_s: float | None = None
    default_profile: str = "cpu"
    profiles: dict = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    cluster: dict = field(default_factory=dict)
    kernel: str = "python3"
    notebook_params: dict = field(default_factory=dict)

    def profile(self, name: str | None) -> Profile:
        name = name or self.default_profile
        if name not in self.profiles:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise ConfigError(f"{self.path}: unknown profile {name!r} (this study has: {known})")
        return self.profiles[name]

    def runs(self, profile: str | None = None) -> list[dict]:
        """Parameters of every run: grid product, then explicit points, each once per seed.

        Order is deterministic (grid axes in file order, seeds innermost); duplicates are
        dropped keeping the first.
        """
        prof = self.profile(profile)
        base = {**self.params, **prof.params}
        grid = {**self.grid, **prof.grid}
        points = self.points if prof.points is None else prof.points
        seeds = self.seeds if prof.seeds is None else prof.seeds
        combos = [dict(zip(grid, values)) for values in itertools.product(*grid.values())] if grid else []
        if not combos and not points:
            combos = [{}]
        out, seen = [], set()
        for point in combos + list(points):
            for seed in (seeds if seeds else [None]):
                run = {**base, **point}
                if seed is not None:
                    run[SEED_PARAM] = seed
                ident = json.dumps(run, sort_keys=True, default=str)
                if ident not in seen:
                    seen.add(ident)
                    out.append(run)
        return out

    def timeout(self, profile: str | None = None) -> float | None:
        prof = self.profile(profile)
        return self.timeout_s if prof.timeout_s is None else prof.timeout_s


def load_study(path: str | Path) -> Study:
    """Read and validate a study file; errors name the file, the line and the problem."""
    path = Path(path)
    data, lines = _load_yaml(path)
    if not isinstance(data, dict):
        raise _error(path, 1, "a study file must be a mapping (name, notebook, grid, profiles, ...)")

    def err(keys: tuple, problem: str) -> ConfigError:
        return _error(path, lines.get(keys), problem)

    for k in data:
        if k not in _TOP_KEYS:
            raise err((k,), f"unknown key {k!r} (expected one of: {', '.join(sorted(_TOP_KEYS))})")
    for k in ("name", "notebook", "profiles"):
        if k not in data:
            raise err((), f"missing required key {k!r}")
    name = data["name"]
    if not isinstance(name, str) or not name or "/" in name:
        raise err(("name",), f"name must be a non-empty string without '/', got {name!r}")
    nb_path = (path.parent / str(data["notebook"])).resolve()
    if not nb_path.is_file():
        raise err(("notebook",), f"notebook not found: {nb_path}")
    try:
        nb = load_notebook(nb_path)
    except Exception as e:  # nbformat / jupytext raise many types on malformed input
        raise err(("notebook",), f"cannot read notebook {nb_path}: {e}") from None
    declared = notebook_parameters(nb)
    if not declared:
        raise err(("notebook",), f"notebook {nb_path} has no cell tagged 'parameters'")

    def check_params(d, keys: tuple, what: str) -> dict:
        if d is None:
            return {}
        if not isinstance(d, dict):
            raise err(keys, f"{what} must be a mapping of parameter -> value")
        for p in d:
            if p == RECORD_PARAM:
                raise err(keys + (p,), f"{RECORD_PARAM!r} is set by the runner, not by the study")
            if p not in declared:
                raise err(keys + (p,), f"unknown notebook parameter {p!r} in {what} "
                                       f"(notebook {nb_path.name} declares: {', '.join(declared)})")
        return dict(d)

    def check_grid(d, keys: tuple) -> dict:
        d = check_params(d, keys, "grid")
        for p, values in d.items():
            if not isinstance(values, list) or not values:
                raise err(keys + (p,), f"grid axis {p!r} must be a non-empty list, got {values!r}")
        return d

    def check_points(d, keys: tuple) -> list | None:
        if d is None:
            return None
        if not isinstance(d, list):
            raise err(keys, "points must be a list of mappings")
        return [check_params(p, keys + (i,), "a point") or {} for i, p in enumerate(d)]

    def check_seeds(d, keys: tuple) -> list | None:
        if d is None:
            return None
        if not isinstance(d, list) or not d or not all(isinstance(s, int) and not isinstance(s, bool) for s in d):
            raise err(keys, f"seeds must be a non-empty list of integers, got {d!r}")
        if SEED_PARAM not in declared:
            raise err(keys, f"seeds given but notebook {nb_path.name} has no {SEED_PARAM!r} parameter")
        return list(d)

    def check_timeout(d, keys: tuple) -> float | None:
        if d is not None and (not isinstance(d, (int, float)) or isinstance(d, bool) or d <= 0):
            raise err(keys, f"timeout_s must be a positive number of seconds, got {d!r}")
        return d

    params = check_params(data.get("params"), ("params",), "params")
    grid = check_grid(data.get("grid"), ("grid",))
    for p in grid:
        if p in params:
            raise err(("grid", p), f"{p!r} is both a fixed param and a grid axis")
    if "seeds" in data and data["seeds"] is not None and (SEED_PARAM in params or SEED_PARAM in grid):
        raise err(("seeds",), f"give seeds either with 'seeds' or as the parameter {SEED_PARAM!r}, not both")
    profiles_raw = data["profiles"]
    if not isinstance(profiles_raw, dict) or not profiles_raw:
        raise err(("profiles",), "profiles must be a non-empty mapping (e.g. smoke, cpu, gpu)")
    profiles = {}
    for pname, prof in profiles_raw.items():
        keys = ("profiles", pname)
        prof = {} if prof is None else prof
        if not isinstance(prof, dict):
            raise err(keys, f"profile {pname!r} must be a mapping")
        for k in prof:
            if k not in _PROFILE_KEYS:
                raise err(keys + (k,), f"unknown key {k!r} in profile {pname!r} "
                                       f"(expected one of: {', '.join(sorted(_PROFILE_KEYS))})")
        profiles[pname] = Profile(
            name=str(pname),
            description=str(prof.get("description", "")),
            params=check_params(prof.get("params"), keys + ("params",), f"profile {pname!r} params"),
            grid=check_grid(prof.get("grid"), keys + ("grid",)),
            points=check_points(prof.get("points"), keys + ("points",)),
            seeds=check_seeds(prof.get("seeds"), keys + ("seeds",)),
            timeout_s=check_timeout(prof.get("timeout_s"), keys + ("timeout_s",)),
        )
    default_profile = data.get("default_profile", "cpu" if "cpu" in profiles else next(iter(profiles)))
    if default_profile not in profiles:
        raise err(("default_profile",), f"default_profile {default_profile!r} is not a profile")
    for k in ("report", "cluster"):
        if data.get(k) is not None and not isinstance(data[k], dict):
            raise err((k,), f"{k} must be a mapping")
    return Study(
        name=name,
        path=path.resolve(),
        notebook=nb_path,
        description=str(data.get("description", "")),
        params=params,
        grid=grid,
        points=check_points(data.get("points"), ("points",)) or [],
        seeds=check_seeds(data.get("seeds"), ("seeds",)),
        timeout_s=check_timeout(data.get("timeout_s"), ("timeout_s",)),
        default_profile=default_profile,
        profiles=profiles,
        report=dict(data.get("report") or {}),
        cluster=dict(data.get("cluster") or {}),
        kernel=str(data.get("kernel", "python3")),
        notebook_params=declared,
    )
