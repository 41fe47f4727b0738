"""Reading typed settings files (cycle config, gate policy, routing policy): one place for the
file-level rules, so every settings file fails the same way, with exit 2 and a message that
names the file, the field and the rule.

YAML is a superset of JSON, so one parser reads both; the top level must be a mapping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from qgap_assets.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def describe_validation_error(exc: ValidationError) -> str:
    """``field.path: message; ...`` for every problem pydantic found."""
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
                     for err in exc.errors())


def read_mapping(path: str | Path, what: str) -> dict[str, Any]:
    """The mapping at the top of a YAML/JSON file; a missing, unreadable or malformed file is a
    :class:`ConfigError` naming ``what`` and the path."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{what} file {p} does not parse as YAML/JSON: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{what} file {p} must hold a mapping at the top level")
    return data


def validate_model(model: type[M], data: dict[str, Any], source: str) -> M:
    """``model`` from ``data``; any violation is a :class:`ConfigError` naming every field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"invalid {source}: {describe_validation_error(exc)}") from exc


def load_model(model: type[M], path: str | Path, what: str) -> M:
    return validate_model(model, read_mapping(path, what), f"{what} file {Path(path)}")
