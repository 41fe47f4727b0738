"""Dagster objects for the advisory side input: the advisor resource and the advice asset.

The advice asset sits *beside* the promotion and canary assets: it reads a candidate's
evidence and nothing downstream depends on it, so a slow or failing advisor can never delay or
change a promotion denial. It never fails on advisor errors (they are ledgered and shown as
metadata), and every materialization shows the stage it ran under.

Because the promotion assets are being built concurrently, the asset is made by a factory,
:func:`build_advisory_asset`, given the key of whatever asset produces the
:class:`CandidateEvidence` (one, or a list of them).
"""

# No `from __future__ import annotations`: Dagster reads the asset's annotations at runtime.
import os
from collections.abc import Sequence
from typing import Any

import dagster as dg
from pydantic import Field, ValidationError

from qgap_assets.advisory import (Advisor, AdvisoryBounds, AdvisoryService, CandidateEvidence,
                                  OpenAICompatibleAdvisor, RuleBasedReviewer, Stage, TradingIntent)
from qgap_assets.errors import ConfigError
from qgap_assets.ledger import db

ADVISORY_GROUP = "advisory"


class AdvisorResource(dg.ConfigurableResource):
    """Which advisor to ask and the highest stage this deployment lets it act in.

    ``stage`` is a ceiling, not a setting: the effective stage of a strategy is the lower of
    this and its ledgered (approved) stage, so config can only ever reduce what advice does.
    The API key comes from ``QGAP_LLM_API_KEY`` (or ``dg.EnvVar`` here) and is never shown.
    """

    backend: str = Field(default="rules", description="'rules' (offline default) or 'openai'")
    base_url: str | None = Field(default=None, description="defaults to $QGAP_LLM_BASE_URL")
    model: str | None = Field(default=None, description="defaults to $QGAP_LLM_MODEL")
    api_key: str | None = Field(default=None, repr=False,
                                description="use dg.EnvVar('QGAP_LLM_API_KEY')")
    timeout_seconds: float = 20.0
    stage: str = Field(default=Stage.SHADOW.value, description="stage ceiling for this deployment")
    database_url: str | None = Field(default=None, description="defaults to the qgap ledger")
    min_scale: float = 0.5
    max_threshold_multiplier: float = 1.5
    max_disabled_symbols: int = 2

    def advisor(self) -> Advisor:
        if self.backend == "rules":
            return RuleBasedReviewer()
        if self.backend == "openai":
            return OpenAICompatibleAdvisor(
                base_url=self.base_url or os.environ.get("QGAP_LLM_BASE_URL", ""),
                model=self.model or os.environ.get("QGAP_LLM_MODEL", ""),
                api_key=self.api_key or os.environ.get("QGAP_LLM_API_KEY"),
                timeout_seconds=self.timeout_seconds)
        raise ConfigError(f"advisor backend must be 'rules' or 'openai', got {self.backend!r}")

    def service(self) -> AdvisoryService:
        try:
            ceiling = Stage(self.stage)
        except ValueError:
            raise ConfigError(f"advisor stage must be one of {[s.value for s in Stage]}, "
                              f"got {self.stage!r}") from None
        engine = db.make_engine(self.database_url)
        db.ensure_schema(engine)
        bounds = AdvisoryBounds(min_scale=self.min_scale,
                                max_threshold_multiplier=self.max_threshold_multiplier,
                                max_disabled_symbols=self.max_disabled_symbols)
        return AdvisoryService(engine, self.advisor(), bounds=bounds, stage_ceiling=ceiling)


def _as_evidence_list(value: Any) -> list[CandidateEvidence]:
    items = value if isinstance(value, Sequence) and not isinstance(value, (str, bytes)) else [value]
    return [CandidateEvidence.model_validate(v) if not isinstance(v, CandidateEvidence) else v
            for v in items]


def _neutral_intent(evidence: CandidateEvidence) -> TradingIntent:
    """Scale 1, threshold multiplier 1 and the manifest's symbols (none if they do not parse)."""
    try:
        return TradingIntent(enabled_symbols=tuple((evidence.manifest or {}).get("symbols") or ()))
    except (ValidationError, TypeError):
        return TradingIntent()


def build_advisory_asset(evidence_asset_key: dg.AssetKey,
                         key: dg.AssetKey = dg.AssetKey("advisory_review")) -> dg.AssetsDefinition:
    """The advice asset for the evidence produced by ``evidence_asset_key``.

    Advice is computed for the paper lane against a neutral intent (scale 1, threshold
    multiplier 1, the manifest's symbols), so the value reads as the relative, bounded change
    the stage would allow; the lanes call :class:`AdvisoryService` with their real intent.
    """

    @dg.asset(key=key, group_name=ADVISORY_GROUP, kinds={"python"},
              ins={"candidate_evidence": dg.AssetIn(key=evidence_asset_key)},
              tags={"qgap/role": "side_input"},
              description="Bounded LLM advice on promotion candidates (side input, never gating).")
    def _advisory_review(context: dg.AssetExecutionContext, advisor: AdvisorResource,
                         candidate_evidence: Any) -> dg.Output[list[dict[str, Any]]]:
        service = advisor.service()
        outcomes = []
        for evidence in _as_evidence_list(candidate_evidence):
            outcome = service.advise(evidence, lane="paper", intent=_neutral_intent(evidence))
            if outcome.error_code:
                context.log.warning(f"advisory for {evidence.candidate_key}: "
                                    f"{outcome.error_code} (passed through)")
            outcomes.append(outcome)
        service.engine.dispose()
        stages = sorted({o.stage.value for o in outcomes})
        metadata: dict[str, Any] = {
            "stage": ", ".join(stages) or "none",
            "stage_ceiling": advisor.stage,
            "backend": advisor.backend,
            "candidates": len(outcomes),
            "verdicts": dg.MetadataValue.json(
                {o.candidate_key: o.advice.verdict.value if o.advice else None for o in outcomes}),
            "errors": dg.MetadataValue.json(
                {o.candidate_key: o.error_code for o in outcomes if o.error_code}),
            "call_ids": dg.MetadataValue.json({o.candidate_key: o.call_id for o in outcomes}),
        }
        value = [o.model_dump(mode="json") for o in outcomes]
        return dg.Output(value, metadata=metadata)

    return _advisory_review


defs = dg.Definitions(resources={"advisor": AdvisorResource()})
