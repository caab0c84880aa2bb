"""The `smsledger` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from domain.errors import DomainError
from domain.parts import count_parts


def _parts(args: argparse.Namespace) -> int:
    try:
        print(count_parts(args.text).describe())
    except DomainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def _demo(args: argparse.Namespace) -> int:
    from adapters.config import ConfigurationError, load_settings
    from adapters.demo import format_audit, run_demo

    try:
        settings = load_settings(args.config, database_url=args.database_url)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    result = run_demo(settings, messages=args.messages)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
    else:
        print(format_audit(result))
    return 0


def _simulator(args: argparse.Namespace) -> int:
    from adapters.infobip_simulator.server import run_simulator

    run_simulator(args.host, args.port, args.api_key)
    return 0


def _add_store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", default=None,
                        help="event store: sqlite:///path.db (default sqlite:///./smsledger.db), "
                             "postgresql://user@host/db or memory:// (env SMSLEDGER_DATABASE_URL)")
    parser.add_argument("--config", default=None,
                        help="settings file, TOML or JSON (see README: Configuration)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smsledger",
        description="Event-sourced SMS/MMS delivery tracking for Infobip.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    parts = commands.add_parser(
        "parts", help="how many SMS parts a text takes, and in which encoding")
    parts.add_argument("text", help="the message text (quote it)")
    parts.set_defaults(handler=_parts)

    demo = commands.add_parser(
        "demo", help="run a whole campaign against the built-in Infobip simulator and audit it")
    demo.add_argument("--messages", type=int, default=300, help="campaign size (default 300)")
    demo.add_argument("--json", action="store_true", help="print the audit as JSON")
    _add_store_options(demo)
    demo.set_defaults(handler=_demo)

    simulator = commands.add_parser(
        "simulator", help="run the Infobip simulator (see adapters/infobip_simulator/README.md)")
    simulator.add_argument("--host", default="127.0.0.1")
    simulator.add_argument("--port", type=int, default=8099)
    simulator.add_argument("--api-key", required=True, help="the API key clients must send")
    simulator.set_defaults(handler=_simulator)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
