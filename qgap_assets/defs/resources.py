"""Resources: the typed entry points of external systems and settings into the asset graph."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from qgap_assets.config import CycleConfig, load_config
from qgap_assets.ledger import db
from qgap_assets.ledger.artifacts import ArtifactStore
from qgap_assets.ledger.repository import Ledger


class CycleSettings(dg.ConfigurableResource):
    """Where a cycle's config and bars come from (None = embedded defaults / synthetic bars)."""

    config_file: str | None = None
    bars_file: str | None = None

    def load(self) -> CycleConfig:
        return load_config(self.config_file)


class LedgerResource(dg.ConfigurableResource):
    """The research ledger database (``QGAP_DATABASE_URL``; embedded SQLite by default) and the
    artifact store under ``QGAP_HOME``."""

    database_url: str = ""
    home: str = ""
    _ledger: Ledger | None = PrivateAttr(default=None)

    @property
    def url(self) -> str:
        return self.database_url or db.default_database_url()

    @property
    def home_path(self) -> Path:
        return Path(self.home).resolve() if self.home else db.qgap_home()

    def ledger(self) -> Ledger:
        if self._ledger is None:
            engine = db.make_engine(self.url)
            db.ensure_schema(engine)
            self._ledger = Ledger(engine)
        return self._ledger

    @cached_property
    def store(self) -> ArtifactStore:
        return ArtifactStore(self.home_path / "artifacts")
