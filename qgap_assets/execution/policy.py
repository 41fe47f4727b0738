"""The per-symbol routing policy: which adapter an order goes to and whether it may fall back.

The policy is an explicit file (YAML or JSON, format in the README's "Execution" section): a default adapter,
the symbols it covers (a symbol not listed is refused with ``no_route`` - there is no wildcard,
so a new symbol is never traded by accident), per-symbol overrides, and whether a LEAN failure
may fall back to Alpaca and for which reason codes. Its ``version`` and content hash are
written on every order event, so any order can be traced to the exact policy that routed it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from qgap_assets.errors import ConfigError
from qgap_assets.settings_files import read_mapping
from qgap_assets.execution.reasons import (ADAPTER_NAMES, Failure, adapter_reason, halted_reason,
                                           reducing_reason)
from qgap_assets.ledger.hashing import hash_obj

PRIMARY = "lean"
FALLBACK = "alpaca"
# A LEAN outcome the router may fall back from. lean_status_unknown is deliberately absent:
# when LEAN cannot say whether it holds the order, sending it to Alpaca could double it.
FALLBACK_REASONS = tuple(
    [adapter_reason(PRIMARY, f) for f in Failure if f is not Failure.NOT_FOUND]
    + [halted_reason(PRIMARY), reducing_reason(PRIMARY)])

_TOP_KEYS = {"version", "default_adapter", "fallback", "symbols"}
_FALLBACK_KEYS = {"allowed", "reasons"}
_SYMBOL_KEYS = {"adapter", "allow_fallback"}


@dataclass(frozen=True)
class SymbolRoute:
    """Where one symbol's orders go. Fallback only ever means LEAN -> Alpaca."""

    symbol: str
    adapter: str
    allow_fallback: bool


@dataclass(frozen=True)
class RoutingPolicy:
    version: str
    default_adapter: str
    fallback_allowed: bool
    fallback_on: frozenset[str]
    symbols: Mapping[str, SymbolRoute]
    policy_hash: str
    source: str = field(default="<memory>", compare=False)

    def route_for(self, symbol: str) -> SymbolRoute | None:
        """The route for ``symbol``, or None when the policy does not cover it (no_route)."""
        return self.symbols.get(symbol)

    def may_fall_back(self, route: SymbolRoute, reason_code: str) -> bool:
        return route.adapter == PRIMARY and route.allow_fallback and reason_code in self.fallback_on


def _fail(source: str, where: str, rule: str) -> ConfigError:
    return ConfigError(f"routing policy {source}: {where}: {rule}")


def _check_keys(source: str, where: str, doc: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(doc) - allowed)
    if unknown:
        raise _fail(source, where, f"unknown key(s) {unknown}; allowed {sorted(allowed)}")


def _adapter(source: str, where: str, value: Any) -> str:
    if value not in ADAPTER_NAMES:
        raise _fail(source, where, f"adapter must be one of {list(ADAPTER_NAMES)}, got {value!r}")
    return str(value)


def _bool(source: str, where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(source, where, f"must be true or false, got {value!r}")
    return value


def parse_policy(doc: Any, source: str = "<memory>") -> RoutingPolicy:
    """Validate a policy document; ConfigError names the field and the rule it broke."""
    if not isinstance(doc, Mapping):
        raise _fail(source, "top level", "must be a mapping")
    _check_keys(source, "top level", doc, _TOP_KEYS)
    version = doc.get("version")
    if not isinstance(version, str) or not version.strip() or len(version) > 64:
        raise _fail(source, "version", "required, a non-empty string of at most 64 characters")
    default_adapter = _adapter(source, "default_adapter", doc.get("default_adapter"))

    fallback = doc.get("fallback")
    if not isinstance(fallback, Mapping) or "allowed" not in fallback:
        raise _fail(source, "fallback", "required, a mapping with at least 'allowed: true|false'")
    _check_keys(source, "fallback", fallback, _FALLBACK_KEYS)
    allowed = _bool(source, "fallback.allowed", fallback["allowed"])
    reasons = fallback.get("reasons", list(FALLBACK_REASONS))
    if not isinstance(reasons, list) or not all(isinstance(code, str) for code in reasons):
        raise _fail(source, "fallback.reasons", "must be a list of reason codes")
    bad = sorted(set(reasons) - set(FALLBACK_REASONS))
    if bad:
        raise _fail(source, "fallback.reasons", f"{bad} cannot trigger a fallback; allowed "
                                           f"{list(FALLBACK_REASONS)}")

    symbols_doc = doc.get("symbols")
    if not isinstance(symbols_doc, Mapping) or not symbols_doc:
        raise _fail(source, "symbols", "required, a non-empty mapping of symbol -> overrides")
    symbols: dict[str, SymbolRoute] = {}
    for symbol, overrides in symbols_doc.items():
        where = f"symbols.{symbol}"
        if not isinstance(symbol, str) or not symbol.strip() or symbol != symbol.strip():
            raise _fail(source, where, "symbol must be a non-empty string without spaces")
        overrides = overrides or {}
        if not isinstance(overrides, Mapping):
            raise _fail(source, where, "must be a mapping (or empty for the defaults)")
        _check_keys(source, where, overrides, _SYMBOL_KEYS)
        adapter = _adapter(source, f"{where}.adapter", overrides.get("adapter", default_adapter))
        allow = _bool(source, f"{where}.allow_fallback", overrides.get("allow_fallback", allowed))
        if allow and adapter != PRIMARY and "allow_fallback" in overrides:
            raise _fail(source, f"{where}.allow_fallback",
                        f"fallback exists only from {PRIMARY!r} to {FALLBACK!r}, "
                        f"but this symbol routes to {adapter!r}")
        symbols[symbol] = SymbolRoute(symbol, adapter, allow and adapter == PRIMARY)

    normalized = {"version": version, "default_adapter": default_adapter,
                  "fallback": {"allowed": allowed, "reasons": sorted(set(reasons))},
                  "symbols": {s: {"adapter": r.adapter, "allow_fallback": r.allow_fallback}
                              for s, r in sorted(symbols.items())}}
    return RoutingPolicy(version=version, default_adapter=default_adapter,
                         fallback_allowed=allowed, fallback_on=frozenset(reasons), symbols=symbols,
                         policy_hash=hash_obj(normalized), source=source)


def load_policy(path: str | Path) -> RoutingPolicy:
    """Read a policy file (YAML, or JSON which YAML also reads)."""
    return parse_policy(read_mapping(path, "routing policy"), str(path))
