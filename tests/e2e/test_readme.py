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
