"""The main job, end to end: `smsledger demo` against the simulator on loopback."""

import json
import os
import subprocess
import sys

from smsledger.adapters.runtime.config import load_settings
from smsledger.adapters.cli.demo import CAMPAIGN_PLAN, campaign_recipients, format_demo, run_demo


def test_the_demo_campaign_adds_up(tmp_path):
    settings = load_settings(database_url=f"sqlite:///{tmp_path}/demo.db",
                             secret_key_file=str(tmp_path / "demo.key"))
    result = run_demo(settings, messages=120, progress=lambda line: None)
    counts = result.audit.counts
    assert counts["requested"] == len(campaign_recipients(120))
    assert counts["requested"] == counts["unresolved"] + counts["enqueue_failed"] + counts["enqueued"]
    assert counts["enqueued"] == (counts["delivered"] + counts["rejected"] + counts["failed"]
                                  + counts["pending"] + counts["no_report_expected"]
                                  + counts["no_report_received"])
    # Germany and Brazil never report; "70" never reports; "80" reports on day 5.
    assert counts["no_report_expected"] == sum(
        1 for _, label in campaign_recipients(120) if "no delivery reports" in label)
    assert counts["no_report_received"] >= 1
    assert counts["late"] >= 1
    assert counts["delivered"] > counts["failed"] > 0 and counts["rejected"] > 0
    assert counts["pending"] == 0 and counts["unresolved"] == 0
    assert result.audit.cost["EUR"] != "0"
    assert result.feed_names == {"sms_status"}
    replying = sum(1 for _, label in campaign_recipients(120) if "repl" in label)
    assert result.replies == replying and result.unsubscribed >= 1
    table = format_demo(result)
    assert "no_report_expected" in table and "'sms_status'" in table


def test_the_campaign_has_exactly_the_size_asked_for():
    for size in (1, 40, 50, 120, 300, 1000):
        recipients = campaign_recipients(size)
        assert len(recipients) == size
        assert len({number for number, _ in recipients}) == size


def test_every_plan_line_gets_recipients():
    labels = {label for _, label in campaign_recipients(300)}
    assert labels == {label for *_, label in CAMPAIGN_PLAN}


def test_the_demo_command_prints_json_with_the_audit_keys(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "smsledger.adapters.cli", "demo", "--messages", "40", "--json",
         "--report", "demo-report.html", "--database-url", f"sqlite:///{tmp_path}/cli.db"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert done.returncode == 0, done.stderr
    audit = json.loads(done.stdout)
    for key in ("project_id", "campaign_id", "requested", "unresolved", "enqueued",
                "enqueue_failed", "delivered", "rejected", "failed", "pending",
                "no_report_expected", "no_report_received", "late", "parts", "cost", "drift"):
        assert key in audit
    assert "Sending campaign" in done.stderr  # progress goes to stderr
    # ...in the audit's words: all 40 enqueued, as the audit counts them.
    assert (f"40 requested: {audit['enqueued']} accepted by Infobip (enqueued)" in done.stderr
            and audit["enqueued"] == 40)
    assert "\x1b[K" not in done.stderr  # no progress bar when stderr is not a terminal
    # `make demo` writes the campaign's report page beside it (--report).
    page = (tmp_path / "demo-report.html").read_text()
    assert audit["campaign_id"] in page and 'data-key="audit.requested"' in page
