"""Run keys: what makes two runs the same run.

A run is identified by (notebook content, parameters, code version). Its key names its
folder, so a restarted or repeated study finds finished runs and skips them.

- Notebook content hashes the cells' type and source only, never outputs or metadata:
  executing the notebook, or saving it from Jupyter, does not invalidate its runs, and a
  jupytext ``.py`` script and its paired ``.ipynb`` hash the same.
- Code version hashes the trackkit sources a notebook can call. ``trackkit/cli`` and
  ``trackkit/report`` are left out: they present results and never change them, and editing
  the report must not rerun every study.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

_PRESENTATION_ONLY = ("cli", "report")


def notebook_hash(nb) -> str:
    cells = [(c.cell_type, c.source) for c in nb.cells]
    return hashlib.sha256(json.dumps(cells).encode()).hexdigest()


def code_version(root: str | Path | None = None) -> str:
    """sha256 over the relative path and bytes of every ``*.py`` under the trackkit package."""
    if root is None:
        import trackkit

        root = Path(trackkit.__file__).parent
    root = Path(root)
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        rel = p.relative_to(root)
        if rel.parts[0] in _PRESENTATION_ONLY or "__pycache__" in rel.parts:
            continue
        h.update(rel.as_posix().encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def canonical_params(params: dict) -> str:
    return json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)


def run_key(notebook_sha: str, params: dict, code_sha: str) -> str:
    """16 hex digits (64 bits) naming a run's folder."""
    blob = json.dumps([notebook_sha, canonical_params(params), code_sha])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def git_commit(root: str | Path | None = None) -> str | None:
    """The checkout's commit (informational only: uncommitted edits are in code_version)."""
    import subprocess

    if root is None:
        import trackkit

        root = Path(trackkit.__file__).parent
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None
