"""Advisors: the deterministic rule-based reviewer (offline default) and an OpenAI-compatible client.

Both answer the same way: :meth:`Advisor.complete` turns a prompt into raw response text, and
:func:`parse_advice` (shared) turns that text into :class:`Advice` or raises
:class:`AdvisorError` with a stable code. Keeping parsing outside the backends means a model and
the rules are held to exactly the same schema, and the ledger can hash the same "raw response"
for both.

The API key is read from ``QGAP_LLM_API_KEY`` and is held privately: it is sent as a bearer
header and appears in no message, repr, log line or ledger row.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

import requests
from pydantic import ValidationError

from qgap_assets.advisory.models import (MAX_RATIONALE_CHARS, Advice, AdvisoryBounds,
                                         CandidateEvidence, PositionScaleAdjustment, ThresholdAdjustment, Verdict)
from qgap_assets.errors import ConfigError, QgapError
from qgap_assets.ledger.hashing import canonical_json, sha256_hex

PROMPT_VERSION = "qgap-advisory-prompt-v1"
RULES_MODEL = "qgap-rules-v1"


class AdvisorErrorCode(StrEnum):
    TIMEOUT = "advisor_timeout"
    HTTP_5XX = "advisor_http_5xx"
    HTTP_4XX = "advisor_http_4xx"
    UNREACHABLE = "advisor_unreachable"
    BAD_RESPONSE = "advisor_bad_response"        # the API envelope lacks choices[0].message.content
    MALFORMED_JSON = "advisor_malformed_json"    # the content is not JSON
    SCHEMA_INVALID = "advisor_schema_invalid"    # JSON, but not an Advice
    INTERNAL = "advisor_internal_error"          # a backend raised something unexpected


class AdvisorError(QgapError):
    """The advisor gave no usable advice. Callers pass through; the code is ledgered."""

    def __init__(self, code: AdvisorErrorCode, message: str, raw: bytes | None = None) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.raw = raw


@dataclass(frozen=True)
class Prompt:
    """Chat messages, canonical so that identical evidence gives an identical prompt hash."""

    messages: tuple[dict[str, str], ...]

    @property
    def sha256(self) -> str:
        return sha256_hex(canonical_json(list(self.messages)))


@dataclass(frozen=True)
class RawReply:
    """What came back: the full response bytes (hashed into the ledger) and the advice text."""

    body: bytes
    content: str

    @property
    def sha256(self) -> str:
        return sha256_hex(self.body)


class Advisor(Protocol):
    backend: str
    model: str

    def complete(self, prompt: Prompt) -> RawReply:
        """Return the raw reply or raise :class:`AdvisorError`."""
        ...


SYSTEM_PROMPT = f"""You review a trading strategy candidate for promotion ({PROMPT_VERSION}).
Answer with one JSON object and nothing else, exactly of this shape:
{{"verdict": "endorse" | "caution" | "veto_recommendation",
  "rationale": "<= {MAX_RATIONALE_CHARS} characters",
  "adjustments": [{{"kind": "position_scale", "value": <multiplier, <= 1 reduces size>}},
                  {{"kind": "threshold", "value": <multiplier, >= 1 raises the entry threshold>}},
                  {{"kind": "disable_symbol", "symbol": "<TICKER>"}}]}}
At most one position_scale and one threshold adjustment. Adjustments that increase risk are
refused; reductions are clamped to the operator's bounds: {{bounds}}."""


def build_prompt(evidence: CandidateEvidence, bounds: AdvisoryBounds) -> Prompt:
    """The canonical prompt: fixed instructions plus the evidence as canonical JSON."""
    system = SYSTEM_PROMPT.replace("{bounds}", canonical_json(bounds.model_dump(mode="json")))
    user = canonical_json(evidence.model_dump(mode="json"))
    return Prompt(messages=({"role": "system", "content": system},
                            {"role": "user", "content": user}))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"non-JSON literal {name}")


def parse_advice(content: str) -> Advice:
    """Parse advisor text into :class:`Advice`; anything else is an :class:`AdvisorError`."""
    try:
        obj = json.loads(content, parse_constant=_refuse_constant)
    except (ValueError, TypeError) as exc:
        raise AdvisorError(AdvisorErrorCode.MALFORMED_JSON, f"advice is not JSON ({exc})") from None
    try:
        return Advice.model_validate(obj)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) or "<root>" for e in exc.errors()})
        raise AdvisorError(AdvisorErrorCode.SCHEMA_INVALID,
                           f"advice breaks the schema at {', '.join(fields)}") from None


# --------------------------------------------------------------------------- rule-based reviewer

@dataclass(frozen=True)
class RuleBasedReviewer:
    """The deterministic offline reviewer (no network, no model): same evidence, same advice.

    veto_recommendation when any gate failed; caution when paper trading lost money, errored or
    traded too little (or there is no paper evidence yet); endorse otherwise. Every non-endorse
    verdict suggests only risk-reducing adjustments.
    """

    min_fills: int = 10
    min_trades: int = 20
    max_drawdown: float | None = None
    backend: str = "rules"
    model: str = RULES_MODEL

    def review(self, evidence: CandidateEvidence) -> Advice:
        failed = [g for g in evidence.gate_results if not g.passed]
        if failed:
            codes = ", ".join(f"{g.name}={g.reason_code or 'failed'}" for g in failed)
            return Advice(verdict=Verdict.VETO_RECOMMENDATION,
                          rationale=f"gates failed: {codes}"[:MAX_RATIONALE_CHARS],
                          adjustments=(PositionScaleAdjustment(kind="position_scale", value=0.5),
                                       ThresholdAdjustment(kind="threshold", value=1.5)))
        runs = evidence.recent_paper_runs
        concerns: list[str] = []
        if not runs:
            concerns.append("no paper runs yet")
        cum = peak = drawdown = 0.0
        for run in runs:
            cum += run.pnl
            peak = max(peak, cum)
            drawdown = max(drawdown, peak - cum)
        if runs and cum < 0:
            concerns.append(f"paper pnl {cum:.6g} < 0 (drawdown {drawdown:.6g})")
        if self.max_drawdown is not None and drawdown > self.max_drawdown:
            concerns.append(f"paper drawdown {drawdown:.6g} > {self.max_drawdown:.6g}")
        errors = sum(r.errors for r in runs)
        if errors:
            concerns.append(f"{errors} paper run errors")
        fills = sum(r.fills for r in runs)
        if runs and fills < self.min_fills:
            concerns.append(f"{fills} paper fills < {self.min_fills}")
        trades = evidence.funnel.get("trades")
        if trades is not None and trades < self.min_trades:
            concerns.append(f"{trades} research trades < {self.min_trades}")
        if concerns:
            return Advice(verdict=Verdict.CAUTION,
                          rationale=("caution: " + "; ".join(concerns))[:MAX_RATIONALE_CHARS],
                          adjustments=(PositionScaleAdjustment(kind="position_scale", value=0.75),))
        return Advice(verdict=Verdict.ENDORSE, rationale="all gates passed; paper runs healthy")

    def complete(self, prompt: Prompt) -> RawReply:
        # The rules read the same prompt a model would, so the ledgered prompt hash is honest.
        evidence = CandidateEvidence.model_validate_json(prompt.messages[-1]["content"])
        text = canonical_json(self.review(evidence).model_dump(mode="json"))
        return RawReply(body=text.encode("utf-8"), content=text)


# --------------------------------------------------------------------------- OpenAI-compatible

class OpenAICompatibleAdvisor:
    """POST ``{base_url}/chat/completions`` and read ``choices[0].message.content`` as Advice JSON."""

    backend = "openai"

    def __init__(self, base_url: str, model: str, api_key: str | None = None,
                 timeout_seconds: float = 20.0, session: requests.Session | None = None) -> None:
        if not base_url or not model:
            raise ConfigError("advisor backend 'openai' needs QGAP_LLM_BASE_URL and QGAP_LLM_MODEL")
        if timeout_seconds <= 0:
            raise ConfigError(f"advisor timeout_seconds must be > 0, got {timeout_seconds}")
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout_seconds = float(timeout_seconds)
        self.__api_key = api_key or None
        self._session = session or requests.Session()

    @classmethod
    def from_env(cls, timeout_seconds: float = 20.0) -> "OpenAICompatibleAdvisor":
        return cls(base_url=os.environ.get("QGAP_LLM_BASE_URL", ""),
                   model=os.environ.get("QGAP_LLM_MODEL", ""),
                   api_key=os.environ.get("QGAP_LLM_API_KEY"), timeout_seconds=timeout_seconds)

    def __repr__(self) -> str:  # never the key
        return f"OpenAICompatibleAdvisor(base_url={self.base_url!r}, model={self.model!r})"

    def complete(self, prompt: Prompt) -> RawReply:
        headers = {"Content-Type": "application/json"}
        if self.__api_key:
            headers["Authorization"] = f"Bearer {self.__api_key}"
        payload = {"model": self.model, "messages": list(prompt.messages), "temperature": 0,
                   "response_format": {"type": "json_object"}}
        url = f"{self.base_url}/chat/completions"
        try:
            resp = self._session.post(url, json=payload, headers=headers,
                                      timeout=self.timeout_seconds)
        except requests.Timeout:
            raise AdvisorError(AdvisorErrorCode.TIMEOUT,
                               f"no answer from {url} within {self.timeout_seconds}s") from None
        except requests.RequestException as exc:
            raise AdvisorError(AdvisorErrorCode.UNREACHABLE,
                               f"{url} unreachable ({type(exc).__name__})") from None
        body = resp.content
        if resp.status_code >= 500:
            raise AdvisorError(AdvisorErrorCode.HTTP_5XX, f"{url} answered {resp.status_code}", body)
        if resp.status_code >= 300:
            raise AdvisorError(AdvisorErrorCode.HTTP_4XX, f"{url} answered {resp.status_code}", body)
        try:
            content = json.loads(body)["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise AdvisorError(AdvisorErrorCode.BAD_RESPONSE,
                               "response has no choices[0].message.content", body) from None
        if not isinstance(content, str):
            raise AdvisorError(AdvisorErrorCode.BAD_RESPONSE, "message content is not a string", body)
        return RawReply(body=body, content=content)
