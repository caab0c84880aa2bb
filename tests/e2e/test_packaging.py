"""smsledger installs as one package, `smsledger`, beside a platform's own packages."""

import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

import smsledger

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
LAYERS = ("domain", "application", "adapters")


def packages_on_disk() -> set[str]:
    found = {"smsledger"}
    for layer in LAYERS:
        for folder in [ROOT / layer, *(ROOT / layer).rglob("*")]:
            if folder.is_dir() and "__pycache__" not in folder.parts and any(folder.glob("*.py")):
                found.add("smsledger." + ".".join(folder.relative_to(ROOT).parts))
    return found


def test_the_build_lists_every_package_folder():
    """A new subpackage missing from pyproject.toml would be missing from the wheel."""
    listed = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    assert set(listed) == packages_on_disk()


def test_the_version_is_one_and_the_same_everywhere():
    done = subprocess.run([sys.executable, "-m", "smsledger.adapters.cli", "--version"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"smsledger {smsledger.__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+", smsledger.__version__)
    from importlib.metadata import version
    assert version("smsledger") == smsledger.__version__


# What a build must not see: a build in the checkout itself would leave build/lib
# behind, and the next wheel would pack modules that were deleted since.
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__",
                                     ".mypy_cache", ".pytest_cache", ".hypothesis", "*.db*")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source") / "smsledger"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCES)
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--quiet", "--wheel-dir", str(out), str(source)],
        capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    [built] = out.glob("smsledger-*.whl")
    return built


def test_the_wheel_holds_nothing_but_smsledger(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert all(n.startswith(("smsledger/", "smsledger-")) for n in names), names
    assert "smsledger/__init__.py" in names and "smsledger/py.typed" in names
    in_wheel = {"smsledger." + ".".join(Path(n).parent.parts[1:]) if Path(n).parent.parts[1:]
                else "smsledger" for n in names if n.endswith(".py")}
    assert in_wheel == packages_on_disk()
    assert not any("/tests/" in n or n.endswith(".feature") for n in names)


TOY_PLATFORM = {
    # A platform laid out as ports-and-adapters apps are: its own domain, application
    # and adapters packages, the names smsledger 0.1.0 took for itself.
    "domain/__init__.py": "",
    "domain/errors.py": "class DomainError(Exception):\n    WHOSE = 'platform'\n",
    "application/__init__.py": "WHOSE = 'platform'\n",
    "adapters/__init__.py": "WHOSE = 'platform'\n",
}


def test_the_readme_example_runs_from_the_wheel_beside_a_platform(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(env_dir)], check=True, timeout=120)
    python = env_dir / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps",
                           "--no-index", str(wheel)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    # smsledger's dependencies come from the test environment's site-packages as a plain
    # path: its .pth files (this checkout's editable smsledger among them) are not run.
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "smsledger_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    platform = tmp_path / "platform"
    for name, text in TOY_PLATFORM.items():
        (platform / name).parent.mkdir(parents=True, exist_ok=True)
        (platform / name).write_text(text)
    example = re.search(r"## Embedding it in Python.*?```python\n(.*?)```", README.read_text(),
                        re.DOTALL).group(1)
    assert "import smsledger\n" in example
    assert not re.search(r"^(from|import) (?!smsledger\b)", example.replace("import smsledger\n", ""),
                         re.MULTILINE), "the example imports something other than smsledger"
    check = ("\nimport domain.errors, application, adapters, smsledger as s\n"
             "assert domain.errors.DomainError.WHOSE == application.WHOSE == adapters.WHOSE == 'platform'\n"
             "assert s.__file__.startswith(%r), s.__file__\n"
             "print(s.__version__)\n" % site)
    done = subprocess.run([str(python), "-c", example + check], cwd=platform,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines == ["enqueued 1", lines[1], "['enqueued', 'delivered']", "delivered", "1",
                     smsledger.__version__]
    assert "applied=1" in lines[1]
