"""Code hash and environment of a run, computed without git.

The code hash covers every ``.py``/``.json``/``.yaml`` file of the ``qgap_assets`` package, the
Alembic migrations and ``requirements.lock``, by relative path and content, sorted; editing any
of them (or the pinned dependency set) changes it.
"""

from __future__ import annotations

import hashlib
import platform
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from qgap_assets.ledger.db import REPO_ROOT

PACKAGE_DIR = Path(__file__).resolve().parents[1]
_SUFFIXES = (".py", ".json", ".yaml", ".yml")


def _code_files() -> list[Path]:
    files = [p for p in PACKAGE_DIR.rglob("*") if p.suffix in _SUFFIXES and "__pycache__" not in p.parts]
    migrations = REPO_ROOT / "migrations"
    if migrations.is_dir():
        files += [p for p in migrations.rglob("*.py") if "__pycache__" not in p.parts]
    lock = REPO_ROOT / "requirements.lock"
    if lock.is_file():
        files.append(lock)
    return sorted(files, key=lambda p: p.relative_to(REPO_ROOT).as_posix())


def compute_code_hash() -> str:
    h = hashlib.sha256()
    for path in _code_files():
        rel = path.relative_to(REPO_ROOT).as_posix().encode("utf-8")
        data = path.read_bytes()
        h.update(len(rel).to_bytes(4, "little") + rel)
        h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()


@lru_cache(maxsize=1)
def code_hash() -> str:
    """The code hash of this process's code (cached: code does not change under a process)."""
    return compute_code_hash()


def environment() -> dict[str, str]:
    env = {"python": platform.python_version()}
    for dist in ("numpy", "pandas", "dagster", "numba", "sqlalchemy"):
        try:
            env[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            env[dist] = "absent"
    return env
