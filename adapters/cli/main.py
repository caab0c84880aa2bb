"""The `smsledger` command line.

Every command that touches the store takes --database-url (or SMSLEDGER_DATABASE_URL)
and --config; a bad setting ends the command with one message naming it (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from smsledger import __version__
from smsledger.adapters.facade import STORE_FAILURES, SmsChannel
from smsledger.adapters.runtime.config import Settings, load_settings
from smsledger.domain.errors import DomainError, InvalidInput, SmsledgerError
from smsledger.domain.parts import count_parts

EXIT_OK, EXIT_DRIFT, EXIT_FAILED, EXIT_USAGE = 0, 1, 1, 2


def _parts(args: argparse.Namespace) -> int:
    try:
        print(count_parts(args.text).describe())
    except DomainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.adapters.cli.demo import format_demo, run_demo

    result = run_demo(settings, messages=args.messages)
    print(json.dumps(result.to_dict(), indent=2) if args.json else format_demo(result))
    return EXIT_OK


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.adapters.cli.audit_report import format_audit

    with _channel(settings) as channel:
        audit = channel.audit(args.project, args.campaign, as_of=args.as_of,
                              whole_store=args.whole_store)
    print(json.dumps(audit.to_dict(), indent=2) if args.json else format_audit(audit))
    return EXIT_DRIFT if audit.drift else EXIT_OK


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    with _channel(settings) as channel:
        for name in [args.projection] if args.projection else channel.projection_names():
            try:
                view = channel.rebuild_projection(name)
            except KeyError as exc:
                print(f"error: {exc.args[0]}", file=sys.stderr)
                return EXIT_USAGE
            print(f"{name}: rebuilt from position 0 into {view}, now live")
    return EXIT_OK


def _channel(settings: Settings) -> SmsChannel:
    """smsledger for a command that reads and maintains the store: it sends nothing."""
    from smsledger.adapters.bootstrap import bootstrap

    return bootstrap(settings=settings, sends=False)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.adapters.http.middleware import configure_json_logging
    from smsledger.adapters.http.serving import CannotServe, run_service, run_workers

    if args.workers > 1:
        configure_json_logging(worker="main")
    else:
        configure_json_logging()
    background_work = not args.no_worker
    try:
        if args.workers > 1:
            return run_workers(settings, args.host, args.port, args.workers,
                               background_work=background_work)
        run_service(settings, args.host, args.port, background_work=background_work)
    except CannotServe as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return EXIT_OK


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.adapters.cli.worker import CannotWork, run_worker
    from smsledger.adapters.http.middleware import configure_json_logging

    configure_json_logging()
    try:
        run_worker(settings, interval=args.interval, public_url=args.public_url)
    except CannotWork as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _maintenance(args: argparse.Namespace, settings: Settings) -> int:
    """Rounds of the periodic work; each prints what it did as one JSON line."""
    import time
    from datetime import timedelta

    from smsledger.adapters.bootstrap import bootstrap

    older_than = None if args.older_than is None else timedelta(seconds=args.older_than)
    with bootstrap(settings=settings, public_url=args.public_url) as channel:
        while True:
            print(json.dumps(channel.run_maintenance(older_than=older_than)), flush=True)
            if args.once:
                return EXIT_OK
            time.sleep(args.interval)


def _projects_create(args: argparse.Namespace, settings: Settings) -> int:
    return _administer(settings, lambda projects: {
        "project_id": args.project_id,
        "admin_token": projects.create_project(args.project_id, name=args.name)})


def _tokens_create(args: argparse.Namespace, settings: Settings) -> int:
    return _administer(settings, lambda projects: {
        "token": projects.issue_token(args.project, args.role)})


def _administer(settings: Settings, change: Callable[[Any], dict[str, str]]) -> int:
    """Run one change on the project directory; print its JSON answer."""
    with _channel(settings) as channel:
        answer = change(channel.projects)
    print(json.dumps(answer))
    return EXIT_OK


def _keys_create(args: argparse.Namespace) -> int:
    from eventsourcing.cipher import AESCipher

    print(AESCipher.create_key(num_bytes=32))
    return EXIT_OK


def _simulator(args: argparse.Namespace) -> int:
    from smsledger.adapters.infobip_simulator.server import run_simulator

    run_simulator(args.host, args.port, args.api_key)
    return EXIT_OK


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 1 or more")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, 0 or more, not {text!r}")
    return value


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time, e.g. 2026-11-09T16:00:00+00:00") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _with_settings(handler: Callable[[argparse.Namespace, Settings], int]
                   ) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            settings = load_settings(args.config, database_url=args.database_url,
                                     public_url=getattr(args, "public_url", None))
            return handler(args, settings)
        except SmsledgerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exit_code(exc)
        except STORE_FAILURES as exc:  # from the project administration, as the database said
            print(f"error: the store is unavailable ({type(exc).__name__}: {exc})",
                  file=sys.stderr)
            return EXIT_FAILED
    return run


def exit_code(error: SmsledgerError) -> int:
    """The one mapping of smsledger's errors to exit codes (see smsledger.domain.errors)."""
    return EXIT_USAGE if isinstance(error, InvalidInput) else EXIT_FAILED


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", default=None,
                        help="event store: sqlite:///path.db (default sqlite:///./smsledger.db), "
                             "postgresql://user@host/db or memory:// (env SMSLEDGER_DATABASE_URL)")
    parser.add_argument("--config", default=None,
                        help="settings file, TOML or JSON (see README: Configuration)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smsledger", description="Event-sourced SMS/MMS delivery tracking for Infobip.")
    parser.add_argument("--version", action="version", version=f"smsledger {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    parts = commands.add_parser(
        "parts", help="how many SMS parts a text takes, and in which encoding")
    parts.add_argument("text", help="the message text (quote it)")
    parts.set_defaults(handler=_parts)

    demo = commands.add_parser(
        "demo", help="run a whole campaign against the built-in Infobip simulator and audit it")
    demo.add_argument("--messages", type=int, default=300, help="campaign size (default 300)")
    demo.add_argument("--json", action="store_true", help="print the audit as JSON")
    _store_options(demo)
    demo.set_defaults(handler=_with_settings(_demo))

    audit = commands.add_parser(
        "audit", help="replay a campaign's history, print its funnel, check the statistics "
                      "projection (exit 1 on drift)")
    audit.add_argument("--project", required=True)
    audit.add_argument("--campaign", required=True)
    audit.add_argument("--as-of", type=_moment, default=None,
                       help="show the campaign as it stood at this time (ISO 8601; UTC if no zone)")
    audit.add_argument("--whole-store", action="store_true",
                       help="replay every message event of the store, not only the campaign's "
                            "(slow; the same figures, unless the campaign index missed a message)")
    audit.add_argument("--json", action="store_true", help="print the audit as JSON")
    _store_options(audit)
    audit.set_defaults(handler=_with_settings(_audit))

    replay = commands.add_parser(
        "replay", help="rebuild a projection (feed, statistics, history; default all) from "
                       "position zero into fresh tables and swap it in")
    replay.add_argument("projection", nargs="?", default=None)
    _store_options(replay)
    replay.set_defaults(handler=_with_settings(_replay))

    serve = commands.add_parser(
        "serve", help="run the HTTP service: client API, Infobip webhooks, health, metrics")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=_positive, default=1,
                       help="processes answering on the port (default 1; one process uses "
                            "about one core)")
    serve.add_argument("--public-url", default=None,
                       help="where Infobip reaches this service, for its webhook URLs "
                            "(env SMSLEDGER_PUBLIC_URL; default: the address it listens on)")
    serve.add_argument("--no-worker", action="store_true",
                       help="run no background work (projections, maintenance): leave it to "
                            "`smsledger worker` processes")
    _store_options(serve)
    serve.set_defaults(handler=_with_settings(_serve))

    worker = commands.add_parser(
        "worker", help="run the service's background work in a process of its own: keep the "
                       "projections current and run the maintenance round, each job while "
                       "this process holds its lock on the store (one active, others standing "
                       "by); until SIGTERM or Ctrl-C")
    worker.add_argument("--interval", type=_positive, default=60,
                        help="seconds between maintenance rounds (default 60)")
    worker.add_argument("--public-url", default=None,
                        help="where Infobip reaches the service, for the webhook URLs of "
                             "messages the maintenance round sends (env SMSLEDGER_PUBLIC_URL)")
    _store_options(worker)
    worker.set_defaults(handler=_with_settings(_worker))

    maintenance = commands.add_parser(
        "maintenance", help="run the periodic work the service runs in the background: "
                            "expire double opt-ins, release parked reports, close waiting "
                            "windows, send what was never handed to Infobip, reconcile, "
                            "resend or give up (README: Reliability); prints JSON per round")
    maintenance.add_argument("--once", action="store_true", help="run one round and exit")
    maintenance.add_argument("--interval", type=_positive, default=60,
                             help="seconds between rounds without --once (default 60)")
    maintenance.add_argument("--older-than", type=_seconds, default=None, metavar="SECONDS",
                             help="override every waiting time of recovery (0: everything "
                                  "unresolved now)")
    maintenance.add_argument("--public-url", default=None,
                             help="where Infobip reaches the service, for the webhook URLs of "
                                  "messages sent (env SMSLEDGER_PUBLIC_URL)")
    _store_options(maintenance)
    maintenance.set_defaults(handler=_with_settings(_maintenance))

    projects = commands.add_parser("projects", help="project administration")
    project_commands = projects.add_subparsers(dest="projects_command", required=True)
    create_project = project_commands.add_parser(
        "create", help='create a project; prints {"project_id": ..., "admin_token": ...}')
    create_project.add_argument("project_id", metavar="NAME",
                                help="the project id: lowercase letters, digits, '-' or '_'")
    create_project.add_argument("--name", default=None, help="a display name")
    _store_options(create_project)
    create_project.set_defaults(handler=_with_settings(_projects_create))

    tokens = commands.add_parser("tokens", help="API tokens")
    token_commands = tokens.add_subparsers(dest="tokens_command", required=True)
    create_token = token_commands.add_parser(
        "create", help='issue a token for a project; prints {"token": ...}')
    create_token.add_argument("--project", required=True)
    create_token.add_argument("--role", required=True, choices=["admin", "member"])
    _store_options(create_token)
    create_token.set_defaults(handler=_with_settings(_tokens_create))
    from smsledger.adapters.cli.tokens import add_token_commands

    add_token_commands(token_commands, store_options=_store_options, with_settings=_with_settings)

    keys = commands.add_parser("keys", help="encryption keys for stored events")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create_key = key_commands.add_parser(
        "create", help="print a new random key for SMSLEDGER_ENCRYPTION_KEY (AES-256)")
    create_key.set_defaults(handler=_keys_create)

    simulator = commands.add_parser(
        "simulator", help="run the Infobip simulator (see adapters/infobip_simulator/README.md)")
    simulator.add_argument("--host", default="127.0.0.1")
    simulator.add_argument("--port", type=int, default=8099)
    simulator.add_argument("--api-key", required=True, help="the API key clients must send")
    simulator.set_defaults(handler=_simulator)

    from smsledger.adapters.bench.cli import add_bench_command

    add_bench_command(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code

