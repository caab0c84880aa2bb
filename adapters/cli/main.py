"""The `smsledger` command line.

Every command that touches the store takes --database-url (or SMSLEDGER_DATABASE_URL)
and --config; a bad setting ends the command with one message naming it (exit 2).
Every failure is one line on stderr, never a traceback (`--debug` or SMSLEDGER_DEBUG=1
shows it): exit 2 for a usage error (argparse's, or a bad setting or input), 1 for
a failure (the store, an unknown project, a demo wait that gave up), 3 for an audit
that found drift. Data goes to stdout (`--json` where it is data), progress to stderr,
and progress bars only when stderr is a terminal (smsledger.adapters.cli.progress).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from smsledger import __version__
from smsledger.adapters.facade import STORE_FAILURES, SmsChannel
from smsledger.adapters.cli.progress import Progress
from smsledger.adapters.runtime.config import Settings, load_settings
from smsledger.application.projections import CAMPAIGN_INDEX, FEED, HISTORY, STATISTICS
from smsledger.domain.errors import DomainError, InvalidInput, SmsledgerError
from smsledger.domain.parts import count_parts

# Drift has its own status: a script (or cron) tells "the audit ran and the statistics
# disagree" from "the audit could not run".
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DRIFT = 0, 1, 2, 3
PROJECTIONS = (FEED, STATISTICS, HISTORY, CAMPAIGN_INDEX)  # `replay`'s choices


def _parts(args: argparse.Namespace) -> int:
    try:
        count = count_parts(args.text)
    except DomainError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps({"parts": count.parts, "encoding": count.encoding.value,
                      "characters": count.characters, "units": count.units})
          if args.json else count.describe())
    return EXIT_OK


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.adapters.cli.demo import DemoGaveUp, format_demo, run_demo

    try:
        result = run_demo(settings, messages=args.messages)
    except DemoGaveUp as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(result.to_dict(), indent=2) if args.json else format_demo(result))
    if args.report:
        from smsledger.adapters.cli.report import write_report

        return write_report(argparse.Namespace(
            project=result.audit.project_id, campaign=result.audit.campaign_id,
            output=args.report, as_of=None, json=False), settings)
    return EXIT_OK


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.adapters.cli.audit_report import format_audit

    with _channel(settings) as channel, Progress("audit", unit="messages") as bar:
        audit = channel.audit(args.project, args.campaign, as_of=args.as_of,
                              whole_store=args.whole_store, progress=bar.update)
    print(json.dumps(audit.to_dict(), indent=2) if args.json else format_audit(audit))
    return EXIT_DRIFT if audit.drift else EXIT_OK


def _replay(args: argparse.Namespace, settings: Settings) -> int:
    with _channel(settings) as channel:
        for name in [args.projection] if args.projection else channel.projection_names():
            with Progress(f"replay {name}", unit="events") as bar:
                view = channel.rebuild_projection(name, progress=bar.update)
            if args.json:
                print(json.dumps({"projection": name, "view": view, "live": True}), flush=True)
            else:
                print(f"{name}: rebuilt from position 0 into {view}, now live", flush=True)
    return EXIT_OK


def _channel(settings: Settings) -> SmsChannel:
    """smsledger for a command that reads and maintains the store: it sends nothing."""
    from smsledger.adapters.bootstrap import bootstrap

    return bootstrap(settings=settings, sends=False)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.adapters.http.middleware import configure_json_logging
    from smsledger.adapters.http.serving import CannotServe, serve, supervises

    background_work = not args.no_worker
    if supervises(settings, args.workers, background_work):  # its own log lines
        configure_json_logging(settings.log_level, worker="main")
    else:
        configure_json_logging(settings.log_level)
    try:
        return serve(settings, args.host, args.port, workers=args.workers,
                     background_work=background_work, pin_cpus=args.pin_cpus)
    except CannotServe as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.adapters.runtime.worker import CannotWork, run_worker
    from smsledger.adapters.http.middleware import configure_json_logging

    if args.metrics_host is not None and args.metrics_port is None:
        print("error: --metrics-host needs --metrics-port", file=sys.stderr)
        return EXIT_USAGE
    configure_json_logging(settings.log_level)
    try:
        run_worker(settings, interval=args.interval, public_url=args.public_url,
                   metrics_at=(None if args.metrics_port is None
                               else (args.metrics_host or "127.0.0.1", args.metrics_port)))
    except CannotWork as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _maintenance(args: argparse.Namespace, settings: Settings) -> int:
    """Rounds of the periodic work; each prints what it did as one JSON line."""
    import time
    from datetime import timedelta

    from smsledger.adapters.bootstrap import bootstrap
    from smsledger.adapters.http.middleware import configure_json_logging

    # What goes wrong in a round (a provider not answering) is logged on stderr; the
    # rounds' results stay alone on stdout.
    configure_json_logging(settings.log_level)
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
    """Run one change on the project directory; print its JSON answer (with or without
    --json: the answer is data a script reads, e.g. the new token)."""
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


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
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


def _json_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--json", action="store_true", help=f"print {what} as JSON on stdout")


def _store_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", default=None, metavar="URL",
                        help="event store: sqlite:///path.db (default sqlite:///./smsledger.db), "
                             "postgresql://user@host/db or memory:// (env SMSLEDGER_DATABASE_URL)")
    parser.add_argument("--config", default=None, metavar="FILE",
                        help="settings file, TOML or JSON (see README: Configuration)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smsledger", description="Event-sourced SMS/MMS delivery tracking for Infobip.",
        epilog="Each command's --help describes its options. Exit status: 0 done, 1 failed "
               "(one line on stderr says why), 2 usage error, 3 audit found drift. Data goes "
               "to stdout (--json where it is data), progress to stderr; progress bars are "
               "drawn only when stderr is a terminal.")
    parser.add_argument("--version", action="version", version=f"smsledger {__version__}",
                        help="print the version and exit")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an unexpected error (also SMSLEDGER_DEBUG=1)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                     title="commands")

    parts = commands.add_parser(
        "parts", help="how many SMS parts a text takes, and in which encoding")
    parts.add_argument("text", help="the message text (quote it)")
    _json_option(parts, "parts, encoding, characters and units (septets or UTF-16 units)")
    parts.set_defaults(handler=_parts)

    demo = commands.add_parser(
        "demo", help="run a whole campaign against the built-in Infobip simulator and audit it")
    demo.add_argument("--messages", type=_positive, default=300, metavar="N",
                      help="campaign size (default 300); the waits for reports and replies "
                           "grow with it")
    _json_option(demo, "the audit and the feed's figures")
    demo.add_argument("--report", metavar="FILE", default=None,
                      help="also write the demo campaign's report page to FILE (one "
                           "self-contained HTML file, as `smsledger report` writes it)")
    _store_options(demo)
    demo.set_defaults(handler=_with_settings(_demo))

    audit = commands.add_parser(
        "audit", help="replay a campaign's history, print its funnel, check the statistics "
                      "projection (exit 3 on drift)")
    audit.add_argument("--project", required=True, help="the project id")
    audit.add_argument("--campaign", required=True, help="the campaign id its messages were "
                                                         "sent with")
    audit.add_argument("--as-of", type=_moment, default=None, metavar="TIME",
                       help="show the campaign as it stood at this time (ISO 8601; UTC if no zone)")
    audit.add_argument("--whole-store", action="store_true",
                       help="replay every message event of the store, not only the campaign's "
                            "(slow; the same figures, unless the campaign index missed a message)")
    _json_option(audit, "the audit")
    _store_options(audit)
    audit.set_defaults(handler=_with_settings(_audit))

    replay = commands.add_parser(
        "replay", help="rebuild a projection (default all) from position zero into fresh "
                       "tables and swap it in")
    replay.add_argument("projection", nargs="?", default=None, choices=PROJECTIONS,
                        help=f"which one: {', '.join(PROJECTIONS)} (default: all, in turn)")
    _json_option(replay, "one line per projection rebuilt")
    _store_options(replay)
    replay.set_defaults(handler=_with_settings(_replay))

    serve = commands.add_parser(
        "serve", help="run the HTTP service: client API, Infobip webhooks, health, metrics")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1; 0.0.0.0 for every "
                            "interface)")
    serve.add_argument("--port", type=_port, default=8080, help="port (default 8080)")
    serve.add_argument("--workers", type=_positive, default=1,
                       help="HTTP processes answering on the port (default 1; one process "
                            "uses about one core), beside one background process")
    serve.add_argument("--public-url", default=None, metavar="URL",
                       help="where Infobip reaches this service, for its webhook URLs "
                            "(env SMSLEDGER_PUBLIC_URL; default: the address it listens on)")
    serve.add_argument("--no-worker", action="store_true",
                       help="start no background process (projections, maintenance, "
                            "subscriptions): leave that work to `smsledger worker` processes")
    serve.add_argument("--pin-cpus", action="store_true",
                       help="run each HTTP process on a CPU of its own and the background "
                            "process on the others (Linux; at most one HTTP process per "
                            "CPU): more served, the feed a little later, where this serve "
                            "is alone on its CPUs (README, Deployment); not where several "
                            "serves share them")
    _store_options(serve)
    serve.set_defaults(handler=_with_settings(_serve))

    worker = commands.add_parser(
        "worker", help="run the service's background work in a process of its own: keep the "
                       "projections current and run the maintenance round, each job while "
                       "this process holds its lock on the store (one active, others standing "
                       "by); until SIGTERM or Ctrl-C")
    worker.add_argument("--interval", type=_positive, default=60,
                        help="seconds between maintenance rounds (default 60)")
    worker.add_argument("--public-url", default=None, metavar="URL",
                        help="where Infobip reaches the service, for the webhook URLs of "
                             "messages the maintenance round sends (env SMSLEDGER_PUBLIC_URL)")
    worker.add_argument("--metrics-port", type=_port, default=None,
                        help="answer GET /metrics (Prometheus) on this port: the worker's job "
                             "runs and failures, its Infobip calls, the projections' lag "
                             "(default: no metrics server)")
    worker.add_argument("--metrics-host", default=None,
                        help="address the metrics server listens on (default 127.0.0.1; "
                             "0.0.0.0 for every interface)")
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
    maintenance.add_argument("--json", action="store_true",
                             help="print each round as one JSON line (the default: the "
                                  "rounds are data for scripts)")
    maintenance.add_argument("--public-url", default=None, metavar="URL",
                             help="where Infobip reaches the service, for the webhook URLs of "
                                  "messages sent (env SMSLEDGER_PUBLIC_URL)")
    _store_options(maintenance)
    maintenance.set_defaults(handler=_with_settings(_maintenance))

    projects = commands.add_parser("projects", help="project administration")
    project_commands = projects.add_subparsers(dest="projects_command", required=True,
                                               metavar="SUBCOMMAND", title="subcommands")
    create_project = project_commands.add_parser(
        "create", help='create a project; prints {"project_id": ..., "admin_token": ...}')
    create_project.add_argument("project_id", metavar="NAME",
                                help="the project id: lowercase letters, digits, '-' or '_'")
    create_project.add_argument("--name", default=None, help="a display name")
    create_project.add_argument("--json", action="store_true",
                                help="print the answer as JSON (the default: it is data, "
                                     "the admin token)")
    _store_options(create_project)
    create_project.set_defaults(handler=_with_settings(_projects_create))

    tokens = commands.add_parser("tokens", help="API tokens")
    token_commands = tokens.add_subparsers(dest="tokens_command", required=True,
                                           metavar="SUBCOMMAND", title="subcommands")
    create_token = token_commands.add_parser(
        "create", help='issue a token for a project; prints {"token": ...}')
    create_token.add_argument("--project", required=True, help="the project id")
    create_token.add_argument("--role", required=True, choices=["admin", "member"],
                              help="admin: also the project's settings and tokens; member: "
                                   "sending and reading")
    create_token.add_argument("--json", action="store_true",
                              help="print the answer as JSON (the default: it is data, the "
                                   "token)")
    _store_options(create_token)
    create_token.set_defaults(handler=_with_settings(_tokens_create))
    from smsledger.adapters.cli.tokens import add_token_commands

    add_token_commands(token_commands, store_options=_store_options, with_settings=_with_settings)
    from smsledger.adapters.cli.report import add_report_commands

    add_report_commands(commands, store_options=_store_options, with_settings=_with_settings,
                        moment=_moment)

    keys = commands.add_parser("keys", help="encryption keys for stored events")
    key_commands = keys.add_subparsers(dest="keys_command", required=True,
                                       metavar="SUBCOMMAND", title="subcommands")
    create_key = key_commands.add_parser(
        "create", help="print a new random key for SMSLEDGER_ENCRYPTION_KEY (AES-256)")
    create_key.set_defaults(handler=_keys_create)

    simulator = commands.add_parser(
        "simulator", help="run the Infobip simulator (see adapters/infobip_simulator/README.md)")
    simulator.add_argument("--host", default="127.0.0.1",
                           help="address to listen on (default 127.0.0.1)")
    simulator.add_argument("--port", type=_port, default=8099, help="port (default 8099)")
    simulator.add_argument("--api-key", required=True, help="the API key clients must send")
    simulator.set_defaults(handler=_simulator)

    from smsledger.adapters.bench.cli import add_bench_command

    add_bench_command(commands)
    _describe_commands(parser)
    return parser


def _describe_commands(parser: argparse.ArgumentParser) -> None:
    """Give every command's own --help the sentence the list of commands shows for it,
    where the command has no description of its own (any command, registered here or
    by another module)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, command in action.choices.items():
                text = helps.get(name, "")
                if command.description is None and text:
                    command.description = text[:1].upper() + text[1:] + "."
                _describe_commands(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; its exit status. Usage errors end in SystemExit(2), from
    argparse. Anything no handler named becomes one line and exit 1: an operator
    reads what went wrong, and `--debug` (or SMSLEDGER_DEBUG=1) gives the traceback
    for a bug report."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130  # the shell's status for SIGINT
    except BrokenPipeError:  # `smsledger ... | head`: the reader is gone, nothing to say
        # Python's last flush of stdout at exit would complain again: point it nowhere.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:
        if args.debug or os.environ.get("SMSLEDGER_DEBUG", "") not in ("", "0"):
            traceback.print_exc()
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        print(f"error: unexpected {type(exc).__name__}" + (f": {detail}" if detail else "")
              + " (run with --debug for the traceback)", file=sys.stderr)
        return EXIT_FAILED
    return code

