"""Candidate evidence for the advisory side input, and the advice asset built on it.

The advice asset hangs off the decision (never before it), so it can never block or change a
denial; it runs in the promotion lifecycle job (started by the new-attempt sensor after every
cycle), off the cycle's critical path.
"""

import json

import dagster as dg

from qgap_assets.advisory.models import CandidateEvidence
from qgap_assets.cycle import CycleOutcome
from qgap_assets.defs.advisory import build_advisory_asset
from qgap_assets.defs.cycle import GROUP


@dg.asset(group_name=GROUP, code_version="evidence-v1")
def candidate_evidence(promotion_decision: CycleOutcome) -> dg.Output[CandidateEvidence]:
    """The decision's evidence in the advisor's schema (gates, funnel, candidate)."""
    evidence = CandidateEvidence(
        candidate_key=promotion_decision.candidate_key, strategy="intraday-tsmom",
        gate_results=tuple({k: v for k, v in g.as_dict().items() if k != "details"}
                           for g in promotion_decision.gates),
        funnel={k: int(v) for k, v in promotion_decision.funnel.items()})
    return dg.Output(evidence, metadata={"candidate_key": evidence.candidate_key,
                                         "gates": json.dumps([g.name for g in evidence.gate_results])})


advisory_review = build_advisory_asset(candidate_evidence.key)

defs = dg.Definitions(assets=[candidate_evidence, advisory_review])
