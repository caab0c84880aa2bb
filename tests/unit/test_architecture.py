"""The dependency rule: domain <- application <- adapters, and a domain without a
clock or randomness. Checked on the source, so a violation fails here first."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("domain", "application", "adapters")
FORBIDDEN_IMPORTS = {
    "domain": {"smsledger.adapters", "smsledger.application", "httpx", "psycopg", "fastapi", "starlette",
               "uvicorn", "sqlite3", "random", "secrets", "time", "os", "socket"},
    "application": {"smsledger.adapters", "httpx", "psycopg", "fastapi", "starlette", "uvicorn",
                    "sqlite3"},
}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "uuid1", "uuid4", "time", "monotonic",
                   "perf_counter", "random", "urandom"}


def sources(package):
    return sorted((ROOT / package).rglob("*.py"))


def imported_modules(path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


@pytest.mark.parametrize("package", sorted(FORBIDDEN_IMPORTS))
def test_inner_layers_import_nothing_from_outer_layers(package):
    assert sources(package), f"no sources found in {package}/"
    for path in sources(package):
        for module in imported_modules(path):
            parts = module.split(".")
            # a layer of ours is the second name (smsledger.adapters), anything else the first
            named = ".".join(parts[:2]) if parts[0] == "smsledger" else parts[0]
            assert named not in FORBIDDEN_IMPORTS[package], (
                f"{path.relative_to(ROOT)} imports {module}")


@pytest.mark.parametrize("package", [*LAYERS, "tests"])
def test_every_import_of_ours_names_the_smsledger_package(package):
    """A bare `from domain import ...` would find a platform's own `domain` package
    when smsledger is embedded beside it."""
    for path in sources(package):
        for module in imported_modules(path):
            assert module.split(".")[0] not in LAYERS, f"{path.relative_to(ROOT)} imports {module}"


def test_the_domain_reads_no_clock_and_makes_no_random_ids():
    for path in sources("domain"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                assert name not in FORBIDDEN_CALLS, (
                    f"{path.relative_to(ROOT)}:{node.lineno} calls {name}()")


def test_no_stored_event_carries_a_uuid_attribute():
    """The orjson transcoder (adapters/store/transcoder.py) writes UUIDs as strings."""
    import typing

    from eventsourcing.domain import DomainEvent

    import smsledger.domain.consent, smsledger.domain.inbound, smsledger.domain.message, smsledger.domain.number_health  # noqa: E401, F401
    import smsledger.domain.parked, smsledger.domain.project, smsledger.domain.quarantine  # noqa: E401, F401

    def subclasses(cls):
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    ours = [c for c in subclasses(DomainEvent) if c.__module__.startswith("smsledger.domain.")]
    assert len(ours) > 20
    for event_class in ours:
        for name, hint in typing.get_type_hints(event_class).items():
            if name not in ("originator_id", "originator_id_type"):
                assert "UUID" not in str(hint), f"{event_class.__qualname__}.{name}: {hint}"


def test_audited_events_need_no_upcasting():
    """The audit replays these events' stored state without building the events, so it
    would not upcast an older stored form: a class_version above 1 needs the replay
    (LedgerApplication.audit, MessageState.apply_fields) taught first."""
    from smsledger.application.audit import AUDITED_EVENTS

    for topic, event_class in AUDITED_EVENTS.items():
        assert getattr(event_class, "class_version", 1) == 1, topic


ADAPTER_PARTS = {"recorder", "mapper", "transcoder", "provider", "read_store", "store", "lookup",
                 "clock", "ids", "secrets", "webhook_secrets", "projections", "rows", "decoder"}


def test_the_application_declares_its_ports_instead_of_probing_adapters():
    """What the application needs from an adapter is a port (application/ports.py), not
    a getattr/hasattr on whatever object was configured."""
    for path in sources("application"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("getattr", "hasattr") and node.args):
                named = {n.attr for n in ast.walk(node.args[0]) if isinstance(n, ast.Attribute)}
                named |= {n.id for n in ast.walk(node.args[0]) if isinstance(n, ast.Name)}
                assert not named & ADAPTER_PARTS, (
                    f"{path.relative_to(ROOT)}:{node.lineno} probes {ast.unparse(node)}")


def test_application_modules_stay_small():
    for path in sources("application"):
        lines = len(path.read_text().splitlines())
        assert lines <= 350, f"{path.relative_to(ROOT)} has {lines} lines; split it by use case"


def test_there_is_one_retry_loop():
    """Load, decide, save, and again on a conflict: AggregateStore.retrying, used by
    every use case and by project settings."""
    loops = []
    for package in ("application", "adapters"):
        for path in sources(package):
            for loop in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(loop, (ast.For, ast.While)) and any(
                        isinstance(handler, ast.ExceptHandler) and handler.type is not None
                        and "IntegrityError" in ast.unparse(handler.type)
                        for handler in ast.walk(loop)):
                    loops.append(f"{path.relative_to(ROOT)}")
    # (The projection runner catches IntegrityError too, outside any loop: the read
    # store refusing a batch another runner already processed; it reads on from there.)
    assert loops == ["application/aggregates.py"], loops
