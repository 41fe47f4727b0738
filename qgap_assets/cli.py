"""`qgap` command line: cycle, backtest, ledger, db, manifest (and the areas' own commands).

Exit codes: 0 when the command did its job (a denied promotion is a normal outcome), 2 for bad
input or config (nothing written), 1 for anything else. Logs go to stderr; with ``--json``
stdout holds exactly one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from qgap_assets.errors import QgapError

log = logging.getLogger("qgap")
REPO_ROOT = Path(__file__).resolve().parents[1]


# -- helpers ---------------------------------------------------------------------------------
def _emit_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def _print_table(rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    widths = {c: max([len(c)] + [len(str(r.get(c, ""))) for r in rows]) for c in columns}
    print("  ".join(c.ljust(widths[c]) for c in columns))
    for r in rows:
        print("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))


def prepare_dagster_home() -> Path:
    """QGAP_HOME/dagster as DAGSTER_HOME, with PostgreSQL storage when QGAP_DAGSTER_PG_URL is set."""
    from qgap_assets.ledger.db import qgap_home

    home = Path(os.environ.get("DAGSTER_HOME") or qgap_home() / "dagster")
    home.mkdir(parents=True, exist_ok=True)
    source = REPO_ROOT / "qgap_assets" / ("dagster_pg.yaml" if os.environ.get("QGAP_DAGSTER_PG_URL")
                                          else "dagster_local.yaml")
    target = home / "dagster.yaml"
    os.environ["DAGSTER_HOME"] = str(home)
    from qgap_assets.locks import file_lock

    # Several cycles may start at once on a fresh home: the first creates the instance's
    # storage (Dagster migrates its SQLite files on first open), the others wait for it.
    with file_lock(home / ".qgap-init.lock"):
        if not target.exists() or target.read_bytes() != source.read_bytes():
            shutil.copyfile(source, target)
        import dagster as dg

        with dg.DagsterInstance.get():
            pass
    return home


# -- cycle -----------------------------------------------------------------------------------
def _summary(out: dict[str, Any]) -> str:
    lines = [f"qgap cycle {out['run_id']}  (dagster run {out['dagster_run_id']})",
             f"  decision : {out['decision'].upper()}",
             f"  reasons  : {', '.join(out['reasons']) or '-'}",
             f"  params   : {out['params']}",
             "  funnel   : " + " -> ".join(f"{k} {out['funnel'][k]}" for k in
                                             ("bars", "signals", "decisions", "trades")),
             *([f"  why      : {out['funnel_note']}"] if out.get("funnel_note") else []),
             f"  dataset  : {out['dataset_hash'][:16]}  contract {out['feature_contract_hash'][:16]}"
             f"  code {out['code_hash'][:16]}",
             "  gates    :"]
    for g in out["gates"]:
        value = "n/a" if g["value"] is None else f"{g['value']:.6g}"
        thr = "n/a" if g["threshold"] is None else f"{g['threshold']:.6g}"
        mark = "PASS" if g["passed"] else "FAIL"
        lines.append(f"    {mark} {g['name']:<22} value {value:>12}  threshold {thr:>10}"
                     f"  {g['reason_code'] or ''}")
    lines.append(f"  manifest : {out['manifest'] or '-'}")
    return "\n".join(lines)


def cmd_cycle(args: argparse.Namespace) -> int:
    from qgap_assets.config import load_config
    from qgap_assets.data.bars import read_bars
    from qgap_assets.ledger import db

    load_config(args.config)                      # bad config -> exit 2 before anything runs
    if args.bars:
        read_bars(args.bars)                      # bad bars -> exit 2, ledger untouched
    engine = db.make_engine()
    db.ensure_schema(engine)
    engine.dispose()
    prepare_dagster_home()

    import dagster as dg

    from qgap_assets.definitions import defs

    job = defs.resolve_job_def("autonomy_cycle")
    settings = {"config_file": str(Path(args.config).resolve()) if args.config else None,
                "bars_file": str(Path(args.bars).resolve()) if args.bars else None}
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance, raise_on_error=False,
            run_config={"resources": {"settings": {"config": settings}}})
    try:
        outcome = result.asset_value("promotion_decision")
    except Exception:  # noqa: BLE001 - no decision recorded: find the step's error
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data is not None:
                err = event.step_failure_data.error
                cause = err.cause if err is not None and err.cause is not None else err
                name = cause.cls_name if cause is not None else "Error"
                message = cause.message.strip() if cause is not None else "unknown failure"
                code = 2 if name in ("InputValidationError", "ConfigError") else 1
                print(f"qgap cycle failed in step {event.step_key}: {message}", file=sys.stderr)
                return code
        print("qgap cycle failed before a decision was recorded", file=sys.stderr)
        return 1
    manifest = None
    if outcome.decision == "promote":
        try:
            manifest = result.asset_value("paper_candidate_manifest")
        except Exception:  # noqa: BLE001 - blocked by a check: no manifest
            manifest = None
    out = {**outcome.as_json(), "manifest": manifest, "dagster_run_id": result.run_id}
    if args.json:
        _emit_json(out)
    else:
        print(_summary(out))
    return 0


# -- backtest --------------------------------------------------------------------------------
def cmd_backtest(args: argparse.Namespace) -> int:
    from qgap_assets.data.bars import read_bars
    from qgap_assets.research.backtest import frictionless_backtest

    if args.lookback < 1:
        raise_config("--lookback must be >= 1")
    if args.threshold < 0 or args.cost_bps < 0:
        raise_config("--threshold and --cost-bps must be >= 0")
    bars = read_bars(args.bars)
    result = frictionless_backtest(bars, args.lookback, args.threshold, args.cost_bps)
    payload = {"summary": result.summary, "per_symbol": result.per_symbol}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(payload, indent=1), encoding="utf-8")
    s = result.summary
    print(f"{s['symbols']} symbols, {s['bars']} bars, {s['trades']} trades, pnl {s['pnl_total']:.6f}, "
          f"{s['bars_per_second']:.3g} bars/s -> {args.out}", file=sys.stderr)
    return 0


def raise_config(msg: str) -> None:
    from qgap_assets.errors import ConfigError

    raise ConfigError(msg)


# -- ledger ----------------------------------------------------------------------------------
def _ledger():  # type: ignore[no-untyped-def]
    from qgap_assets.ledger import db
    from qgap_assets.ledger.repository import Ledger

    engine = db.make_engine()
    db.ensure_schema(engine)
    return Ledger(engine)


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    report = _ledger().verify()
    if args.json:
        _emit_json(report.__dict__)
    elif report.ok:
        print(f"ledger intact: {report.runs} runs, hash chain verified")
    else:
        print(f"ledger BROKEN at run {report.first_bad_run}: {report.problem}", file=sys.stderr)
    return 0 if report.ok else 1


def cmd_ledger_runs(args: argparse.Namespace) -> int:
    rows = _ledger().runs(limit=args.limit)
    cols = ["seq", "run_id", "created_at", "strategy", "decision", "dataset_hash", "params_json"]
    if args.json:
        _emit_json([{c: r[c] for c in cols + ["record_hash"]} for r in rows])
    else:
        _print_table([{**r, "dataset_hash": r["dataset_hash"][:12]} for r in rows], cols)
    return 0


def cmd_ledger_show(args: argparse.Namespace) -> int:
    run = _ledger().run(args.run_id)
    if run is None:
        print(f"no run {args.run_id!r} in the ledger", file=sys.stderr)
        return 1
    if args.json:
        _emit_json(run)
        return 0
    for k, v in run.items():
        if not isinstance(v, list):
            print(f"{k:>26}: {v}")
    for name in ("folds", "stress", "gates", "attempts"):
        print(f"\n{name}:")
        if run[name]:
            cols = [c for c in run[name][0] if not c.endswith("_json") and c != "run_id"]
            _print_table(run[name], cols)
    return 0


def cmd_ledger_attempts(args: argparse.Namespace) -> int:
    rows = _ledger().attempts(denied_only=args.denied)
    cols = ["seq", "run_id", "attempt_id", "decision", "reasons", "created_at"]
    if args.json:
        _emit_json([{c: r[c] for c in cols + ["candidate_key"]} for r in rows])
    else:
        _print_table([{**r, "reasons": ",".join(r["reasons"]) or "-"} for r in rows], cols)
    return 0


def cmd_ledger_replay(args: argparse.Namespace) -> int:
    from qgap_assets.ledger.db import qgap_home
    from qgap_assets.replay import replay_run

    result = replay_run(_ledger(), qgap_home(), args.run_id)
    out = {"run_id": args.run_id, "reproduced": result.passed, "mismatched": list(result.mismatches),
           "expected": result.expected, "observed": result.observed}
    if args.json:
        _emit_json(out)
    elif result.passed:
        print(f"run {args.run_id} reproduced: every recorded hash matches")
    else:
        print(f"run {args.run_id} NOT reproduced: {', '.join(result.mismatches)} differ", file=sys.stderr)
        for key in result.mismatches:
            print(f"  {key}: recorded {result.expected[key]}, now {result.observed.get(key)}",
                  file=sys.stderr)
    return 0 if result.passed else 1


# -- db --------------------------------------------------------------------------------------
def cmd_db(args: argparse.Namespace) -> int:
    from qgap_assets.ledger import db

    url = db.default_database_url()
    if args.db_command == "upgrade":
        db.upgrade(url, args.revision)
    elif args.db_command == "downgrade":
        db.downgrade(url, args.revision)
    engine = db.make_engine(url)
    print(f"ledger schema at revision {db.current_revision(engine) or 'base'} (head {db.head_revision()})")
    engine.dispose()
    return 0


# -- manifest --------------------------------------------------------------------------------
def cmd_manifest_verify(args: argparse.Namespace) -> int:
    from qgap_assets.promotion.manifest import read_manifest

    manifest, sha = read_manifest(args.file)
    ledger = _ledger()
    problems = []
    rows = [m for m in ledger.manifests(manifest["candidate_key"]) if m["manifest_sha256"] == sha]
    if not rows:
        problems.append("no ledger row names this manifest's sha256")
    run = ledger.run(manifest["ledger"]["run_id"])
    if run is None:
        problems.append(f"ledger has no run {manifest['ledger']['run_id']}")
    else:
        for key, col in (("dataset", "dataset_hash"), ("feature_contract", "feature_contract_hash"),
                         ("code", "code_hash"), ("params", "params_hash"), ("record", "record_hash")):
            if manifest["hashes"][key] != run[col]:
                problems.append(f"hash '{key}' differs from the ledger's {col}")
        if run["decision"] != "promote":
            problems.append("the ledger run did not grant a promotion")
    out = {"file": args.file, "sha256": sha, "ok": not problems, "problems": problems}
    if args.json:
        _emit_json(out)
    else:
        print(f"manifest {sha}: {'OK' if not problems else 'MISMATCH'}")
        for p in problems:
            print(f"  - {p}")
    return 0 if not problems else 1


# -- parser ----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qgap", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("cycle", help="run one autonomy cycle through the Dagster job")
    p.add_argument("--bars", help="bars file (CSV or Parquet); default: seeded synthetic market")
    p.add_argument("--config", help="cycle config (JSON or YAML); default: embedded")
    p.add_argument("--json", action="store_true", help="one JSON object on stdout")
    p.set_defaults(func=cmd_cycle)

    p = sub.add_parser("backtest", help="frictionless simulator on a bars file")
    p.add_argument("--bars", required=True)
    p.add_argument("--lookback", type=int, default=30)
    p.add_argument("--threshold", type=float, default=0.001)
    p.add_argument("--cost-bps", type=float, default=1.0)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_backtest)

    p = sub.add_parser("ledger", help="inspect and verify the research ledger")
    lsub = p.add_subparsers(dest="ledger_command", required=True)
    q = lsub.add_parser("verify", help="walk the hash chain; exit 1 naming the first bad record")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_ledger_verify)
    q = lsub.add_parser("runs", help="list runs, newest first")
    q.add_argument("--limit", type=int, default=50)
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_ledger_runs)
    q = lsub.add_parser("show", help="one run with its folds, stress, gates and attempts")
    q.add_argument("run_id")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_ledger_show)
    q = lsub.add_parser("attempts", help="promotion attempts, granted and denied")
    q.add_argument("--denied", action="store_true")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_ledger_attempts)

    q = lsub.add_parser("replay", help="re-run a recorded run from the ledger and its artifacts")
    q.add_argument("run_id")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_ledger_replay)

    p = sub.add_parser("db", help="ledger schema migrations (Alembic)")
    dsub = p.add_subparsers(dest="db_command", required=True)
    q = dsub.add_parser("upgrade")
    q.add_argument("revision", nargs="?", default="head")
    q.set_defaults(func=cmd_db)
    q = dsub.add_parser("downgrade")
    q.add_argument("revision", nargs="?", default="base")
    q.set_defaults(func=cmd_db)
    q = dsub.add_parser("current")
    q.set_defaults(func=cmd_db)

    p = sub.add_parser("manifest", help="paper-candidate manifests")
    msub = p.add_subparsers(dest="manifest_command", required=True)
    q = msub.add_parser("verify", help="recompute the manifest hash and cross-check the ledger")
    q.add_argument("file")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_manifest_verify)

    for module, builder in _area_parsers():
        builder(sub)
    return parser


def _area_parsers() -> list[tuple[str, Callable[[Any], None]]]:
    """Sub-commands contributed by areas (kill switch, ...), when present."""
    import importlib

    found = []
    for module, attr in (("qgap_assets.execution.cli", "add_kill_parser"),
                         ("qgap_assets.execution.cli", "add_breaker_parser"),
                         ("qgap_assets.advisory.cli", "add_advisory_parser"),
                         ("qgap_assets.promotion.cli", "add_promotion_parsers")):
        try:
            found.append((module, getattr(importlib.import_module(module), attr)))
        except (ModuleNotFoundError, AttributeError):
            continue
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except QgapError as exc:
        print(f"qgap: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
