"""The command line guides: every option explains itself, every failure is one line
naming the problem with its own exit status, data comes as JSON on request, and
progress bars appear on a terminal only.

The commands are found by walking the parser, so a command added later (by this
module's authors or another's) is held to the same rules without editing this file."""

from __future__ import annotations

import argparse
import importlib
import io
import json
import logging
import os
import pty
import select
import subprocess
import sys
import time

import pytest

from smsledger.adapters.cli.demo import DemoGaveUp, _wait_for, send_summary
from smsledger.adapters.cli.main import EXIT_DRIFT, PROJECTIONS, build_parser, main
from smsledger.adapters.cli.progress import Progress

CLI = [sys.executable, "-m", "smsledger.adapters.cli"]
BAD_STORE = "sqlite:////nonexistent/x.db"
# Values for the required arguments of any command, by argparse's dest; an argument
# with choices takes its first, any other required one "acme".
VALUES = {"text": "Hello", "role": "member", "public_url": "http://127.0.0.1:9",
          "project_id": "acme", "token_id": "000000000000"}
# These run until stopped when their store opens: they are run in a process of their own.
LONG_RUNNING = {("serve",), ("worker",)}


@pytest.fixture(autouse=True)
def workdir(tmp_path, monkeypatch):
    """Each test in a folder of its own, with a key: no command leaves a ./smsledger.key
    (or a store) in the checkout."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMSLEDGER_SECRET_KEY", "cli-guidance-0123456789abcdef")
    # `maintenance` run in-process sets up its JSON log lines on the root logger, on
    # this test's captured stderr: put the handlers back, for the tests after it.
    monkeypatch.setattr(logging.root, "handlers", list(logging.root.handlers))
    monkeypatch.setattr(logging.root, "level", logging.root.level)


def commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
             ) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """(command path, its parser) for the root and every command and sub-command."""
    found = [(path, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += commands(sub, (*path, name))
    return found


def runnable(parser: argparse.ArgumentParser) -> bool:
    return not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


def store_commands() -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    return [(path, parser) for path, parser in commands(build_parser())
            if any("--database-url" in a.option_strings for a in parser._actions)]


def minimal_argv(path: tuple[str, ...], parser: argparse.ArgumentParser) -> list[str]:
    """The command with a value for each of its required arguments."""
    argv = list(path)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or not (
                action.required or not action.option_strings and action.nargs is None):
            continue
        value = (str(next(iter(action.choices))) if action.choices
                 else VALUES.get(action.dest, "acme"))
        argv += [action.option_strings[0], value] if action.option_strings else [value]
    if any("--public-url" in a.option_strings for a in parser._actions):
        argv += ["--public-url", VALUES["public_url"]]  # needed by those that send
    if path == ("maintenance",):
        argv.append("--once")
    return argv


def one_line_error(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert lines[0].startswith("error: "), lines[0]
    return lines[0]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


# --- help ----------------------------------------------------------------------------

def test_every_argument_of_every_command_says_what_it_is_for():
    missing = []
    for path, parser in commands(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{' '.join((*path, choice.dest))} (in the list of commands)"
                            for choice in action._choices_actions if not choice.help]
                continue
            if not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                missing.append(f"smsledger {' '.join(path)} {action.option_strings or action.dest}")
    assert missing == [], "arguments without help: " + "; ".join(missing)


def test_choices_are_listed_in_the_help(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["replay", "--help"])
    assert exited.value.code == 0
    assert "{feed,statistics,history,campaign_index}" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["tokens", "create", "--help"])
    assert "{admin,member}" in capsys.readouterr().out


def test_the_help_of_every_command_exits_zero_and_describes_it(capsys):
    for path, parser in commands(build_parser()):
        with pytest.raises(SystemExit) as exited:
            main([*path, "--help"])
        out = capsys.readouterr().out
        assert exited.value.code == 0, path
        assert out.startswith(f"usage: smsledger {' '.join(path)}".rstrip()), out
        if path:  # a command's own help says what it does, not only its usage
            assert parser.description, f"smsledger {' '.join(path)} has no description"


def test_the_installed_command_prints_its_help_and_the_exit_statuses():
    done = subprocess.run([*CLI, "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == ""
    for command in ("demo", "audit", "replay", "serve", "tokens", "maintenance"):
        assert command in done.stdout
    assert "3 audit found drift" in " ".join(done.stdout.split())


# --- errors: one line, the right exit status --------------------------------------------

def test_every_store_command_names_a_store_it_cannot_open_in_one_line(capsys):
    expected = f"error: cannot open the store at {BAD_STORE}: unable to open database file"
    found = store_commands()
    assert {path for path, _ in found} >= {("audit",), ("replay",), ("demo",),
                                           ("maintenance",), ("tokens", "list")}
    for path, parser in found:
        argv = [*minimal_argv(path, parser), "--database-url", BAD_STORE]
        if path in LONG_RUNNING:
            done = subprocess.run([*CLI, *argv], capture_output=True, text=True, timeout=60)
            code, err = done.returncode, done.stderr
        else:
            code, _, err = run(capsys, *argv)
        assert (code, one_line_error(err)) == (1, expected), argv


def test_a_postgresql_server_that_does_not_answer_is_one_line():
    done = subprocess.run([*CLI, "audit", "--project", "acme", "--campaign", "c",
                           "--database-url", "postgresql://someone:hunter2@127.0.0.1:1/x"],
                          capture_output=True, text=True, timeout=60)
    line = one_line_error(done.stderr)
    assert done.returncode == 1 and "cannot open the store at postgresql://someone:***@" in line
    assert "hunter2" not in line


@pytest.fixture
def store(tmp_path):
    url = f"sqlite:///{tmp_path}/guidance.db"
    assert main(["projects", "create", "acme", "--database-url", url]) == 0
    return url


@pytest.mark.parametrize("argv", [
    ["audit", "--project", "nope", "--campaign", "spring"],
    ["tokens", "list", "--project", "nope"],
    ["tokens", "create", "--project", "nope", "--role", "member"],
    ["tokens", "revoke", "--project", "nope", "000000000000"],
])
def test_an_unknown_project_is_one_line_and_exit_1(store, capsys, argv):
    capsys.readouterr()
    code, out, err = run(capsys, *argv, "--database-url", store)
    assert code == 1 and out == ""
    assert "no project 'nope'" in one_line_error(err)


@pytest.mark.parametrize("argv, complaint", [
    (["audit", "--project", "acme"], "the following arguments are required: --campaign"),
    (["replay", "nope"], "invalid choice: 'nope'"),
    (["serve", "--port", "http"], "'http' is not a port number"),
    (["tokens", "create", "--project", "acme", "--role", "owner"], "invalid choice: 'owner'"),
    (["demo", "--messages", "0"], "'0' is not a whole number of 1 or more"),
    (["audit", "--project", "a", "--campaign", "c", "--as-of", "yesterday"], "ISO 8601"),
    (["no-such-command"], "invalid choice: 'no-such-command'"),
])
def test_a_bad_argument_is_a_usage_error_with_exit_2(capsys, argv, complaint):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert err.startswith("usage: smsledger") and complaint in err and "Traceback" not in err


def test_a_usage_error_exits_2_from_the_installed_command():
    done = subprocess.run([*CLI, "audit", "--project", "acme"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and done.stderr.startswith("usage: smsledger audit")


def test_an_unexpected_error_is_one_line_unless_debugging(capsys, monkeypatch):
    def broken(args):
        raise RuntimeError("the disk caught fire\nsecond line")

    parser = build_parser()
    # The module, not the function smsledger.adapters.cli exports under the same name.
    monkeypatch.setattr(importlib.import_module("smsledger.adapters.cli.main"), "build_parser",
                        lambda: parser)
    parser._subparsers._group_actions[0].choices["parts"].set_defaults(handler=broken)
    monkeypatch.delenv("SMSLEDGER_DEBUG", raising=False)
    code, _, err = run(capsys, "parts", "x")
    assert code == 1
    assert one_line_error(err) == ("error: unexpected RuntimeError: the disk caught fire "
                                   "(run with --debug for the traceback)")
    code, _, err = run(capsys, "--debug", "parts", "x")
    assert code == 1 and "Traceback" in err and 'raise RuntimeError("the disk' in err
    monkeypatch.setenv("SMSLEDGER_DEBUG", "1")
    assert "Traceback" in run(capsys, "parts", "x")[2]


def test_drift_has_an_exit_status_of_its_own():
    assert EXIT_DRIFT == 3  # tests/cli/test_audit_and_replay.py makes drift and sees 3


# --- JSON ---------------------------------------------------------------------------------

def test_json_output_parses(store, capsys):
    code, out, _ = run(capsys, "parts", "a" * 161, "--json")
    assert code == 0 and json.loads(out) == {"parts": 2, "encoding": "GSM-7",
                                             "characters": 161, "units": 161}
    code, out, _ = run(capsys, "replay", "--json", "--database-url", store)
    rebuilt = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["projection"] for r in rebuilt] == list(PROJECTIONS)
    assert all(r["live"] and r["view"].startswith(r["projection"]) for r in rebuilt)
    code, out, _ = run(capsys, "tokens", "create", "--project", "acme", "--role", "member",
                       "--json", "--database-url", store)
    token_id = json.loads(out)["token"].split(".")[1]
    code, out, _ = run(capsys, "tokens", "list", "--project", "acme", "--json",
                       "--database-url", store)
    assert token_id in {t["token_id"] for t in json.loads(out)["tokens"]}
    code, out, _ = run(capsys, "tokens", "revoke", "--project", "acme", token_id, "--json",
                       "--database-url", store)
    assert code == 0 and json.loads(out)["revoked_by"] == "cli"
    code, out, _ = run(capsys, "projects", "create", "globex", "--json", "--database-url", store)
    assert json.loads(out)["project_id"] == "globex"
    code, out, _ = run(capsys, "maintenance", "--once", "--json", "--public-url",
                       VALUES["public_url"], "--database-url", store)
    assert code == 0 and isinstance(json.loads(out), dict)


def test_replay_offers_exactly_the_projections_the_store_has(store):
    from smsledger.adapters.bootstrap import bootstrap
    from smsledger.adapters.runtime.config import load_settings

    with bootstrap(settings=load_settings(database_url=store), sends=False) as channel:
        assert tuple(channel.projection_names()) == PROJECTIONS


# --- progress ------------------------------------------------------------------------------

class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_writes_nothing_to_a_stream_that_is_not_a_terminal():
    stream = io.StringIO()
    with Progress("replay feed", total=10, stream=stream) as bar:
        for done in range(11):
            bar.update(done)
        bar.say("a progress line")
    assert stream.getvalue() == "a progress line\n"


def test_a_bar_on_a_terminal_is_drawn_in_place_and_erased():
    stream = Terminal()
    with Progress("replay feed", total=200, unit="events", stream=stream) as bar:
        bar.update(100)
        time.sleep(0.15)
        bar.update(150)
        bar.say("a progress line")
    drawn = stream.getvalue()
    assert "replay feed [" in drawn and "150/200 events  75%" in drawn
    assert "\ra progress line\n" in drawn.replace("\x1b[K", "")
    assert drawn.endswith("\r\x1b[K")  # erased: the terminal is left clean


def test_replay_draws_its_bar_on_a_terminal_only(store):
    env = {**os.environ, "COLUMNS": "100"}
    piped = subprocess.run([*CLI, "replay", "--database-url", store], capture_output=True,
                           text=True, timeout=60, env=env)
    assert piped.returncode == 0 and piped.stderr == ""
    primary, secondary = pty.openpty()
    try:
        done = subprocess.run([*CLI, "replay", "--database-url", store], stdout=subprocess.PIPE,
                              stderr=secondary, text=True, timeout=60, env=env)
        drawn = _read_all(primary)
    finally:
        os.close(secondary)
        os.close(primary)
    # The same data on stdout (each rebuild is a new view: _v1, then _v2).
    assert done.returncode == 0 and done.stdout == piped.stdout.replace("_v1,", "_v2,")
    assert "replay feed" in drawn and "replay campaign_index" in drawn and "\x1b[K" in drawn


def _read_all(fd: int) -> str:
    chunks = []
    while select.select([fd], [], [], 0.2)[0]:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode()


# --- the demo -------------------------------------------------------------------------------

def test_the_send_summary_uses_the_audit_s_words():
    lines = send_summary({"enqueued": 291, "rejected": 9}, 0.5)
    assert lines[0] == ("  300 requested: 300 accepted by Infobip (enqueued), 0 refused "
                        "(enqueue_failed), 0 without an answer (unresolved)")
    assert lines[1] == "  of the enqueued, already final in Infobip's answer: 9 rejected"
    assert lines[2] == "  sent in 0.5s (600 messages/s)"
    lines = send_summary({"enqueued": 7, "enqueue_failed": 2, "requested": 1}, 0.0)
    assert lines == ["  10 requested: 7 accepted by Infobip (enqueued), 2 refused "
                     "(enqueue_failed), 1 without an answer (unresolved)", "  sent in 0.0s"]


def test_a_wait_that_gives_up_names_what_it_waited_for():
    with pytest.raises(DemoGaveUp) as gave_up:
        _wait_for("the delivery reports", lambda: 3, 10, timeout=0.2, bars=False)
    assert str(gave_up.value) == "gave up after 0s waiting for the delivery reports: 3 of 10"
    assert _wait_for("nothing", lambda: 1, 1, timeout=0, bars=False) < 1


def test_the_demo_fails_with_one_line_when_a_wait_gives_up(tmp_path, capsys, monkeypatch):
    from smsledger.adapters.cli import demo

    monkeypatch.setattr(demo, "wait_seconds", lambda messages: 0.0)  # reports take 0.2 s
    code, out, err = run(capsys, "demo", "--messages", "40",
                         "--database-url", f"sqlite:///{tmp_path}/demo.db")
    assert code == 1 and out == ""
    last = err.splitlines()[-1]
    assert last.startswith("error: gave up after 0s waiting for the delivery reports: ")
    assert "Traceback" not in err
