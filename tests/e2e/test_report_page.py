"""The campaign report page in a real browser: Debian's headless Chromium, driven by
Playwright's Python API (never Playwright's own browser download).

The demo campaign runs against the simulator; its report is written by
`smsledger report` and served by the service; the browser opens both and the
figures it shows (every cell with a `data-key`) must equal the report's JSON, whose
funnel must be the audit's, exactly. The page may make no request but for itself.
A full-page screenshot of each is kept under the test's tmp_path (paths printed).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
from playwright.sync_api import sync_playwright

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.cli.demo import DemoResult, campaign_recipients, run_demo
from smsledger.adapters.http.app import create_app
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.http.server import BackgroundServer
from smsledger.adapters.runtime.config import Settings, load_settings

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
MESSAGES = 120
FUNNEL_KEYS = ("requested", "unresolved", "enqueued", "enqueue_failed", "delivered", "rejected",
               "failed", "pending", "no_report_expected", "no_report_received", "late")


@dataclass
class Demo:
    folder: Path
    settings: Settings
    result: DemoResult
    database_url: str

    @property
    def project(self) -> str:
        return self.result.audit.project_id

    @property
    def campaign(self) -> str:
        return self.result.audit.campaign_id


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    folder = tmp_path_factory.mktemp("report-demo")
    database_url = f"sqlite:///{folder}/demo.db"
    settings = load_settings(database_url=database_url,
                             secret_key_file=str(folder / "demo.key"))
    result = run_demo(settings, messages=MESSAGES, progress=lambda line: None)
    return Demo(folder, settings, result, database_url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        message = "Debian's chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            launched.close()


def cli(*args: str, demo: Demo) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smsledger.adapters.cli", *args, "--database-url",
         demo.database_url], capture_output=True, text=True, timeout=120, cwd=demo.folder,
        env={**os.environ, "SMSLEDGER_SECRET_KEY_FILE": str(demo.folder / "demo.key")})


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """The report's JSON as `data-key` paths (lists of countries by country code)."""
    if isinstance(value, dict):
        flat: dict[str, Any] = {}
        for key, inner in value.items():
            flat.update(flatten(inner, f"{prefix}{key}."))
        return flat
    if isinstance(value, list) and prefix == "countries.":
        return flatten({row["country"] or "none": row for row in value}, prefix)
    if isinstance(value, list):
        return flatten(dict(enumerate(value)), prefix)
    return {prefix[:-1]: value}


def as_shown(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value}%"  # the only floats are rates, shown as percent
    return str(value)


def figures(page: Any) -> dict[str, str]:
    """What the browser shows for each `data-key` (the same key shown twice must agree)."""
    shown: dict[str, str] = {}
    for key, text, value, empty in page.eval_on_selector_all(
            "[data-key]", "els => els.map(e => [e.dataset.key, e.innerText.trim(), "
                          "e.dataset.value ?? null, e.dataset.empty ?? null])"):
        text = value if value is not None else "" if empty else text
        assert shown.setdefault(key, text) == text, (key, shown[key], text)
    return shown


def check_figures(page: Any, report: dict[str, Any]) -> dict[str, str]:
    shown = figures(page)
    expected = flatten(report)
    for key, text in shown.items():
        assert key in expected, f"the page shows {key!r}, which the report does not have"
        assert text == as_shown(expected[key]), (key, text, expected[key])
    # Everything a person must find is there: the whole funnel, parts, cost, replies,
    # every error reason and every country.
    must = {f"audit.{key}" for key in FUNNEL_KEYS} | {"audit.parts", "replies", "opt_outs"}
    must |= {f"audit.cost.{currency}" for currency in report["audit"]["cost"]}
    must |= {f"errors.{i}.{field}" for i in range(len(report["errors"]))
             for field in ("name", "count", "description", "code")}
    must |= {f"countries.{row['country']}.{field}" for row in report["countries"]
             for field in ("requested", "delivered", "delivered_rate", "expects_reports")}
    assert must <= set(shown), sorted(must - set(shown))
    return shown


def recorded_requests(page: Any) -> list[str]:
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    return requests


def screenshot(page: Any, path: Path) -> None:
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    print(f"screenshot: {path}")


def test_the_written_report_shows_the_audit_s_numbers_exactly(demo, browser, tmp_path):
    output = tmp_path / "report.html"
    done = cli("report", "--project", demo.project, "--campaign", demo.campaign,
               "--output", str(output), "--json", demo=demo)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    # The report's funnel is the audit's: the demo's own audit, and a fresh one.
    assert report["audit"] == demo.result.audit.to_dict()
    audit = cli("audit", "--project", demo.project, "--campaign", demo.campaign, "--json",
                demo=demo)
    assert audit.returncode == 0, audit.stderr
    assert report["audit"] == json.loads(audit.stdout)
    counts = report["audit"]
    # The breakdowns add up to the funnel.
    assert sum(row["requested"] for row in report["countries"]) == counts["requested"]
    assert sum(row["delivered"] for row in report["countries"]) == counts["delivered"]
    assert sum(reason["count"] for reason in report["errors"]) == (
        counts["rejected"] + counts["failed"] + counts["enqueue_failed"])
    assert sum(b["delivered"] for b in report["series"]) == counts["delivered"]
    assert sum(b["failed"] for b in report["series"]) == counts["rejected"] + counts["failed"]
    assert report["replies"] == demo.result.replies
    assert report["opt_outs"] == demo.result.unsubscribed
    never = {row["country"] for row in report["countries"] if not row["expects_reports"]}
    assert never == {"DE", "BR"}
    assert {reason["name"] for reason in report["errors"]} >= {
        "EC_UNIDENTIFIED_SUBSCRIBER", "EC_ABSENT_SUBSCRIBER_SM", "REJECTED_NETWORK"}

    page = browser.new_page(viewport={"width": 1200, "height": 900})
    requests = recorded_requests(page)
    page.goto(output.as_uri())
    shown = check_figures(page, report)
    assert shown["countries.DE.delivered_rate"] == "" and "never reports" in page.inner_text(
        "#countries")
    assert "Drift check: OK" in page.inner_text("#drift")
    # Every share in the funnel is of requested, as shown.
    for key in FUNNEL_KEYS:
        share = page.inner_text(f'[data-share="{key}"]')
        assert share == f"{100 * counts[key] / counts['requested']:.1f}%", key
    # An error row's message link leads to its timeline, embedded in the file.
    first = report["errors"][0]["examples"][0]
    page.click(f'#errors a[href="#message-{first}"]')
    timeline = page.inner_text(f"#message-{first}")
    assert "requested" in timeline and "handed to Infobip" in timeline
    assert report["errors"][0]["name"] in timeline
    # Nothing but the file itself was asked for: no style, font, script or image.
    assert requests and all(url.split("#")[0] == output.as_uri() for url in requests), requests
    screenshot(page, tmp_path / "report.png")
    # On a phone: nothing wider than the screen but the tables, which scroll.
    phone = browser.new_page(viewport={"width": 390, "height": 844})
    phone.goto(output.as_uri())
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(phone, tmp_path / "report-phone.png")


@pytest.fixture(scope="module")
def served(demo: Demo) -> Iterator[tuple[str, str]]:
    """(the service's URL, a member token of the demo project), on the demo's store."""
    channel = bootstrap(settings=demo.settings, sends=False)
    server = BackgroundServer()
    try:
        server.start(create_app(ServiceContext.serving(channel, server.url, demo.settings)))
        token = channel.projects.issue_token(demo.project, "member")
        yield server.url, token
    finally:
        server.stop()
        channel.close()


def test_the_served_report_page_answers_with_a_token_only(demo, served):
    url, token = served
    path = f"/v1/projects/{demo.project}/campaigns/{demo.campaign}/report"
    with httpx.Client(base_url=url) as client:
        refused = client.get(path)
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"
        unknown = client.get(f"/v1/projects/{demo.project}/campaigns/nope/report",
                             headers={"Authorization": f"Bearer {token}"})
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
        page = client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "http://" not in page.text.replace(url, "") and "https://" not in page.text


def test_the_served_page_in_the_browser_searches_and_links_timelines(demo, served, browser,
                                                                      tmp_path):
    url, token = served
    context = browser.new_context(extra_http_headers={"Authorization": f"Bearer {token}"},
                                  viewport={"width": 1200, "height": 900})
    page = context.new_page()
    requests = recorded_requests(page)
    path = f"/v1/projects/{demo.project}/campaigns/{demo.campaign}/report"
    page.goto(url + path)
    report = demo_report(demo)
    check_figures(page, report)
    # An error row links to ?message=ID, which the page answers with the timeline.
    first = report["errors"][0]["examples"][0]
    page.click(f'#errors a[href^="?message={first}"]')
    page.wait_for_selector(f"#message-{first}")
    assert "handed to Infobip" in page.inner_text(f"#message-{first}")
    # The search by number: France's recipients get every report twice (the simulator's
    # "50"), and the timeline shows the second as a noted duplicate.
    french = next(number for number, label in campaign_recipients(MESSAGES)
                  if "twice" in label)
    page.fill('input[name="number"]', french)
    page.fill('input[name="message"]', "")
    page.click('form.search button[type="submit"]')
    page.wait_for_selector("section.timeline")
    timeline = page.inner_text("section.timeline")
    assert "delivered" in timeline and "duplicate" in timeline, timeline
    # A search that finds nothing says so on the page.
    page.fill('input[name="number"]', "")
    page.fill('input[name="message"]', "no-such-message")
    page.click('form.search button[type="submit"]')
    assert "no message 'no-such-message'" in page.inner_text(".notice")
    origin = urlparse(url)
    for request in requests:
        parsed = urlparse(request)
        assert (parsed.scheme, parsed.netloc, parsed.path) == (
            origin.scheme, origin.netloc, path), requests
    screenshot(page, tmp_path / "served-report.png")
    context.close()


def demo_report(demo: Demo) -> dict[str, Any]:
    with bootstrap(settings=demo.settings, sends=False) as channel:
        return channel.campaign_report(demo.project, demo.campaign).to_dict()


def test_the_message_command_prints_the_timeline_with_infobip_s_codes(demo):
    report = demo_report(demo)
    failed = next(r for r in report["errors"] if r["name"] == "EC_UNIDENTIFIED_SUBSCRIBER")
    message_id = failed["examples"][0]
    text = cli("message", "--project", demo.project, message_id, demo=demo)
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert message_id in lines[0] and "failed" in lines[0]
    labels = ["requested", "handed to Infobip", "enqueued", "report: failed"]
    positions = [next(i for i, line in enumerate(lines) if label in line) for label in labels]
    assert positions == sorted(positions), text.stdout
    assert "error 5 EC_UNIDENTIFIED_SUBSCRIBER" in text.stdout and "(permanent)" in text.stdout
    as_json = cli("message", "--project", demo.project, message_id, "--json", demo=demo)
    assert as_json.returncode == 0, as_json.stderr
    view = json.loads(as_json.stdout)
    assert view["status"] == "failed"
    assert [entry["event"] for entry in view["history"]] == [
        "Requested", "HandedOver", "Enqueued", "Failed"]


@pytest.mark.parametrize(("args", "says"), [
    (["report", "--project", "nobody", "--campaign", "c", "--output", "x.html"], "no "),
    (["report", "--project", "{project}", "--campaign", "nope", "--output", "x.html"],
     "no message was ever requested for campaign 'nope'"),
    (["message", "--project", "{project}", "no-such-id"], "no message 'no-such-id'"),
    (["report", "--project", "{project}", "--campaign", "{campaign}", "--output",
      "/nonexistent/dir/x.html"], "cannot write /nonexistent/dir/x.html"),
])
def test_the_commands_fail_in_one_line_naming_the_problem(demo, args, says):
    done = cli(*[a.format(project=demo.project, campaign=demo.campaign) for a in args],
               demo=demo)
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stderr.strip().count("\n") == 0 and "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ") and says in done.stderr, done.stderr


def test_a_bad_store_url_is_one_line_too(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "smsledger.adapters.cli", "report", "--project", "p",
         "--campaign", "c", "--output", str(tmp_path / "x.html"),
         "--database-url", "sqlite:////nonexistent/dir/x.db"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode in (1, 2), done.stderr
    assert "Traceback" not in done.stderr and done.stderr.strip().count("\n") == 0
    assert "nonexistent" in done.stderr, done.stderr
