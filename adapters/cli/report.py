"""`smsledger report` (a campaign's report page, one HTML file) and `smsledger message`
(one message's timeline).

The file `report` writes is the page the service serves at
/v1/projects/{project}/campaigns/{campaign}/report, with the timelines of the
messages its error rows name embedded as sections (the links are anchors), so it
needs neither the service nor a network to be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from smsledger.adapters.runtime.config import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def add_report_commands(commands: Any, *,
                        store_options: Callable[[argparse.ArgumentParser], None],
                        with_settings: Callable[[Handler], Callable[[argparse.Namespace], int]],
                        moment: Callable[[str], datetime]) -> None:
    """Add `report` and `message` to the commands (smsledger.adapters.cli.main)."""
    report = commands.add_parser(
        "report", help="write a campaign's report page: one self-contained HTML file (funnel, "
                       "reports over time, error reasons, countries, parts and cost, replies, "
                       "drift check, timelines of failed messages)")
    report.add_argument("--project", required=True, help="the project id")
    report.add_argument("--campaign", required=True, help="the campaign id")
    report.add_argument("--output", required=True, metavar="FILE",
                        help="where to write the page, e.g. report.html ('-' for stdout)")
    report.add_argument("--as-of", type=moment, default=None, metavar="TIME",
                        help="the campaign as it stood at this time (ISO 8601; UTC if no zone)")
    report.add_argument("--json", action="store_true",
                        help="also print the report's figures as JSON on stdout (the page "
                             "shows exactly these)")
    store_options(report)
    report.set_defaults(handler=with_settings(write_report))

    message = commands.add_parser(
        "message", help="one message's timeline: requested, handed to Infobip, enqueued, each "
                        "report (duplicates and conflicts noted), window closed; times and "
                        "Infobip's codes")
    message.add_argument("--project", required=True, help="the project id")
    message.add_argument("message_id", metavar="MESSAGE_ID",
                         help="the message's id (as the send answer and the feed give it)")
    message.add_argument("--json", action="store_true",
                         help="print the message and its history as JSON (as the HTTP API's "
                              "GET .../messages/{id})")
    store_options(message)
    message.set_defaults(handler=with_settings(show_message))


def write_report(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.adapters.bootstrap import bootstrap
    from smsledger.adapters.report import render_report

    with bootstrap(settings=settings, sends=False) as channel:
        report = channel.campaign_report(args.project, args.campaign, as_of=args.as_of)
        # The messages the error rows link to, embedded: the file is read offline.
        shown = dict.fromkeys(m for reason in report.errors for m in reason.examples)
        timelines = [channel.message(args.project, message_id) for message_id in shown]
    page = render_report(report, timelines)
    if args.output == "-":
        sys.stdout.write(page)
    else:
        try:
            _write_atomically(Path(args.output), page)
        except OSError as exc:
            print(f"error: cannot write {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return 1
        print(f"wrote {args.output}: campaign {args.campaign!r} of project {args.project!r}, "
              f"{report.audit.counts['requested']} messages", file=sys.stderr)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    return 0


def show_message(args: argparse.Namespace, settings: Settings) -> int:
    from smsledger.adapters.bootstrap import bootstrap
    from smsledger.adapters.report import format_timeline

    with bootstrap(settings=settings, sends=False) as channel:
        view = channel.message(args.project, args.message_id)
    print(json.dumps(view.to_dict(), indent=2) if args.json else format_timeline(view))
    return 0


def _write_atomically(path: Path, text: str) -> None:
    """Written beside, then renamed: a reader (a browser reloading) never sees half a page."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)
