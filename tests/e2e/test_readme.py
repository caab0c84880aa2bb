"""The README's embedding examples, blocking and asyncio, run as written."""

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_embedding_example_runs(tmp_path):
    example = re.search(r"## Embedding it in Python.*?```python\n(.*?)```", README.read_text(),
                        re.DOTALL).group(1)
    done = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "enqueued 1"
    assert "applied=1" in lines[1]
    assert lines[2:] == ["['enqueued', 'delivered']", "delivered", "1"]


def test_the_asyncio_example_runs(tmp_path):
    example = re.search(r"### Embedding in asyncio.*?```python\n(.*?)```", README.read_text(),
                        re.DOTALL).group(1)
    done = subprocess.run([sys.executable, "-c", example], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "enqueued enqueued"
    assert "applied=1" in lines[1]
    assert lines[2:] == ["delivered", "1"]


def test_the_readme_names_the_two_commands():
    text = README.read_text()
    assert "make demo" in text and "make test" in text
    assert "make test" in (README.parents[0] / ".ci" / "run").read_text()


def _shape(line: str) -> str:
    """A demo output line with what changes from run to run (figures, times, ports,
    ids) replaced, so a run can be compared with the README's quote line by line."""
    line = re.sub(r"'demo-[0-9a-f]+'", "'demo-ID'", line)
    line = re.sub(r"spring-sale-[0-9-]+", "spring-sale-ID", line)
    return re.sub(r"\d[\d,.]*", "N", line).rstrip()


def test_the_quick_start_quotes_the_demo_as_it_prints(tmp_path):
    from smsledger.adapters.cli.demo import format_demo, run_demo
    from smsledger.adapters.runtime.config import load_settings

    quoted = re.search(r"## Quick start.*?\n```\n(Infobip simulator .*?)```",
                       README.read_text(), re.DOTALL).group(1).splitlines()
    lines: list[str] = []
    result = run_demo(load_settings(database_url=f"sqlite:///{tmp_path}/demo.db",
                                    secret_key_file=str(tmp_path / "demo.key")),
                      messages=300, progress=lines.append, bars=False)
    printed = lines + format_demo(result).splitlines()
    assert [_shape(line) for line in printed] == [_shape(line) for line in quoted]
    # The summary's words agree with the audit's: every message Infobip accepted is
    # counted enqueued in both (the README's contradiction this replaced: "enqueued 291").
    counts = result.audit.counts
    assert (f"  {counts['requested']} requested: {counts['enqueued']} accepted by Infobip "
            "(enqueued)") in lines[3]
