"""The `smsledger` command line."""

from __future__ import annotations

import argparse
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
