"""Routing policy validation, client order ids, and the README's Execution section against the code."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from qgap_assets.errors import ConfigError
from qgap_assets.execution.orders import OrderIntent, client_order_id
from qgap_assets.execution.policy import FALLBACK_REASONS, load_policy, parse_policy
from qgap_assets.execution.reasons import Trigger, all_reason_codes
from qgap_assets_tests.execution.conftest import POLICY_DOC

REPO = Path(__file__).resolve().parents[2]
# The "Execution" section of the README, up to the next top-level section.
DOC = (REPO / "README.md").read_text(encoding="utf-8").split("\n## Execution\n", 1)[1].split("\n## ", 1)[0]
EXAMPLE = REPO / "qgap_assets" / "execution" / "routing_policy.example.yaml"


def test_example_policy_loads_and_routes_per_symbol() -> None:
    policy = load_policy(EXAMPLE)
    assert policy.route_for("SPY") is not None and policy.route_for("SPY").allow_fallback  # type: ignore[union-attr]
    assert policy.route_for("QQQ").adapter == "alpaca"  # type: ignore[union-attr]
    assert not policy.route_for("IWM").allow_fallback  # type: ignore[union-attr]
    assert policy.route_for("AAPL") is None  # not covered: no_route
    assert "lean_rejected" not in policy.fallback_on


def test_policy_hash_depends_on_content_not_order() -> None:
    reordered = {**POLICY_DOC, "symbols": dict(reversed(list(POLICY_DOC["symbols"].items())))}
    assert parse_policy(POLICY_DOC).policy_hash == parse_policy(reordered).policy_hash
    changed = {**POLICY_DOC, "symbols": {**POLICY_DOC["symbols"], "SPY": {"adapter": "alpaca"}}}
    assert parse_policy(POLICY_DOC).policy_hash != parse_policy(changed).policy_hash


@pytest.mark.parametrize("change, message", [
    ({"version": ""}, "version"),
    ({"default_adapter": "ib"}, "default_adapter"),
    ({"fallback": {"allowed": "yes"}}, "fallback.allowed"),
    ({"fallback": {}}, "fallback"),
    ({"fallback": {"allowed": True, "reasons": ["lean_status_unknown"]}}, "cannot trigger"),
    ({"fallback": {"allowed": True, "on": []}}, "unknown key"),
    ({"symbols": {}}, "symbols"),
    ({"symbols": {"SPY": {"adapter": "alpaca", "allow_fallback": True}}}, "symbols.SPY"),
    ({"symbols": {"SPY": {"venue": "lean"}}}, "unknown key"),
    ({"symbols": {"*": None}, "extra": 1}, "unknown key"),
])
def test_policy_errors_name_the_field(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        parse_policy({**POLICY_DOC, **change})


def test_client_order_id_is_deterministic_and_venue_safe() -> None:
    coid = client_order_id("tsmom", "cand", "run", "SPY", 3)
    assert coid == client_order_id("tsmom", "cand", "run", "SPY", 3)
    assert coid != client_order_id("tsmom", "cand", "run", "SPY", 4)
    assert re.fullmatch(r"qg-[0-9a-f]{40}", coid)
    intent = OrderIntent("tsmom", "cand", "run", "SPY", 3, "sell", 5, position_qty=10)
    assert intent.client_order_id == coid and intent.risk_reducing
    assert not OrderIntent("tsmom", "cand", "run", "SPY", 3, "sell", 15,
                           position_qty=10).risk_reducing  # would flip the position


def test_every_reason_code_is_documented() -> None:
    documented = set(re.findall(r"`([a-z0-9_]+)`", DOC))
    missing = set(all_reason_codes()) - documented
    assert missing == set()
    assert {t.value for t in Trigger} <= documented
    assert set(FALLBACK_REASONS) <= documented


def test_the_documented_policy_example_is_valid() -> None:
    import yaml

    block = DOC.split("### Routing policy", 1)[1].split("```yaml", 1)[1].split("```", 1)[0]
    policy = parse_policy(yaml.safe_load(block), "README.md#execution")
    assert policy.route_for("SYN000").adapter == "simulated"  # type: ignore[union-attr]
    assert policy.fallback_on == {"lean_timeout", "lean_http_5xx", "lean_unavailable",
                                  "lean_unconfigured"}
