"""`smsledger tokens list` and `smsledger tokens revoke`: a project's API tokens, as an
operator sees them on the command line. Neither shows a token's secret (it is not
stored); a revoked token is refused from the next request on."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from smsledger.adapters.runtime.config import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def add_token_commands(token_commands: Any, *,
                       store_options: Callable[[argparse.ArgumentParser], None],
                       with_settings: Callable[[Handler], Callable[[argparse.Namespace], int]]
                       ) -> None:
    """Add `list` and `revoke` to the `tokens` command (smsledger.adapters.cli.main)."""
    listing = token_commands.add_parser(
        "list", help='a project\'s tokens, secrets never shown; prints {"tokens": [...]}')
    listing.add_argument("--project", required=True, help="the project id")
    _json_option(listing)
    store_options(listing)
    listing.set_defaults(handler=with_settings(list_tokens))

    revoke = token_commands.add_parser(
        "revoke", help="revoke a token (by the id in `tokens list`): refused from now on")
    revoke.add_argument("--project", required=True, help="the project id")
    revoke.add_argument("token_id", metavar="TOKEN_ID",
                        help="the token's id: its middle part, as `tokens list` shows it")
    _json_option(revoke)
    store_options(revoke)
    revoke.set_defaults(handler=with_settings(revoke_token))


def _json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print the answer as JSON (the default: it is data for scripts)")


def list_tokens(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.adapters.bootstrap import bootstrap

    with bootstrap(settings=settings, sends=False) as channel:
        tokens = channel.projects.tokens(args.project)
    print(json.dumps({"tokens": tokens}, indent=2))
    return 0


def revoke_token(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.adapters.bootstrap import bootstrap

    with bootstrap(settings=settings, sends=False) as channel:
        revoked = channel.projects.revoke_token(args.project, args.token_id, changed_by="cli")
    print(json.dumps(revoked))
    return 0
