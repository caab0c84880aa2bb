"""AsyncSmsChannel (smsledger.bootstrap_async): every operation of SmsChannel, awaitable,
with the same signature, the same results and the same errors; a slow Infobip does
not stop the event loop; the store is opened and closed off the loop.

The tests drive their own event loops with asyncio.run (no pytest plugin needed)."""

from __future__ import annotations

import asyncio
import inspect
import threading
from datetime import timedelta
from typing import Any

import pytest

import smsledger
from smsledger.adapters import async_facade
from smsledger.application.ports import OutgoingMessage, SendOutcome
from support.fakes import FakeClock
from support.providers import ScriptedProvider
from support.statuses import inbound_body, outcome, report_body
from support.times import T0

WAIT = 10.0  # seconds a test waits for what must happen long before


def settings(tmp_path, name: str = "store") -> smsledger.Settings:
    return smsledger.load_settings(database_url=f"sqlite:///{tmp_path}/{name}.db",
                                   secret_key_file=str(tmp_path / f"{name}.key"))


def public_operations(cls: type) -> dict[str, Any]:
    return {name: member for name, member in vars(cls).items()
            if inspect.isfunction(member) and not name.startswith("_")}


# --- the same operations -------------------------------------------------------------

def test_every_public_operation_of_the_channel_has_an_awaitable_twin_with_its_signature():
    sync = public_operations(smsledger.SmsChannel)
    awaitable = public_operations(smsledger.AsyncSmsChannel)
    assert set(awaitable) == set(sync)
    for name, operation in awaitable.items():
        assert inspect.iscoroutinefunction(operation), name
        assert inspect.signature(operation) == inspect.signature(sync[name]), name
        assert operation.__doc__ == sync[name].__doc__ or name == "close", name


def test_bootstrap_async_takes_what_bootstrap_takes_and_the_thread_count():
    sync = inspect.signature(smsledger.bootstrap).parameters
    awaitable = dict(inspect.signature(smsledger.bootstrap_async).parameters)
    assert awaitable.pop("max_workers").default == async_facade.DEFAULT_MAX_WORKERS
    assert list(awaitable.values()) == list(sync.values())


# --- the same results ----------------------------------------------------------------

def send(message_id: str, to: str = "+385921234567", campaign: str = "spring"
         ) -> smsledger.SendRequest:
    return smsledger.SendRequest(customer_id=f"cust-{message_id}", to=to, text="Spring sale",
                                 campaign_id=campaign, sender="385991234567",
                                 integration_id="infobip", message_id=message_id)


# (operation, positional arguments, keyword arguments): what an embedding platform does,
# errors included, and each parameter passed through by position or by name.
SCRIPT: list[tuple[str, tuple, dict]] = [
    ("send", ("acme", [send("m-1"), send("m-2", to="+385911111111")]), {}),
    ("send", ("acme", [send("m-3", to="not a number"), send("m-4", to="+385922222222")]),
     {"report_invalid": True}),
    ("send", ("acme", [send("m-5", to="not a number")]), {}),
    ("ingest_delivery_reports", ("acme", report_body("m-1", outcome(
        "DELIVERED_TO_HANDSET", done_at=T0 + timedelta(minutes=1)))), {}),
    ("ingest_delivery_reports", ("acme", "not json"), {}),
    ("ingest_inbound", ("acme", "infobip", inbound_body(
        "in-1", "385911111111", "385991234567", "7 great", T0 + timedelta(minutes=2))), {}),
    ("quarantined_inputs", ("acme",), {}),
    ("grant_consent", ("acme", "+385913333333", "newsletter", "cust-9"), {}),
    ("revoke_consent", ("acme", "+385913333333"), {"customer_id": "cust-9"}),
    ("consent", ("acme", "+385913333333", "newsletter"), {}),
    ("consent", ("acme", "+385913333333"), {}),
    ("configure_keyword", ("acme", "HELLO"), {"action": "none", "answer": "Hi!",
                                              "changed_by": "platform"}),
    ("mark_nps_survey", ("acme", "spring"), {}),
    ("number_status", ("acme", "+385911111111"), {}),
    ("revalidate_number", ("acme", "+385911111111"), {"changed_by": "platform"}),
    ("campaign_events", ("acme",), {}),
    ("campaign_events", ("acme", 2, 3), {}),
    ("message", ("acme", "m-1"), {}),
    ("message", ("acme", "no-such-message"), {}),
    ("audit", ("acme", "spring"), {}),
    ("audit", ("acme", "spring", T0 + timedelta(seconds=30)), {"whole_store": True}),
    ("audit", ("acme", "no-such-campaign"), {}),
    ("campaign_event_name", ("acme",), {}),
    ("rename_campaign_event", ("acme", "sms_status"), {"changed_by": "platform"}),
    ("campaign_events", ("acme",), {"after": 0, "limit": 100}),
    # Last of the writes: its confirmation SMS gets a random id, which the feed would show.
    ("request_double_opt_in", ("acme", "+385914444444", "sms_marketing"),
     {"customer_id": "cust-10", "text": "Reply YES", "valid_for": timedelta(hours=2)}),
    ("close_due_windows", (), {}),
    ("run_maintenance", (), {}),
    ("reconcile", (timedelta(hours=1),), {}),
    ("projection_names", (), {}),
    ("check_store", (), {"within": 5.0}),
    ("check_ready", (), {"within": 5.0}),
]


def outcome_of(call) -> tuple[str, Any]:
    try:
        return "result", call()
    except Exception as error:  # the same error, kind and words, is the same result
        return type(error).__name__, str(error)


def make_channel(tmp_path, name: str) -> smsledger.SmsChannel:
    channel = smsledger.bootstrap(smsledger.StaticAccounts({}), settings(tmp_path, name),
                                  provider=ScriptedProvider(), clock=FakeClock(T0))
    channel.projects.create_project("acme")
    return channel


def test_the_same_script_gives_the_same_results_and_errors_as_the_channel(tmp_path):
    with make_channel(tmp_path, "sync") as channel:
        expected = [outcome_of(lambda: getattr(channel, name)(*args, **kwargs))
                    for name, args, kwargs in SCRIPT]

    async def script() -> list[tuple[str, Any]]:
        async with smsledger.AsyncSmsChannel(make_channel(tmp_path, "async")) as channel:
            results = []
            for name, args, kwargs in SCRIPT:
                try:
                    results.append(("result", await getattr(channel, name)(*args, **kwargs)))
                except Exception as error:
                    results.append((type(error).__name__, str(error)))
            return results

    got = asyncio.run(script())
    for step, (want, have) in enumerate(zip(expected, got, strict=True)):
        assert have == want, SCRIPT[step][0]
    # The script did reach what it means to test: sends, errors, reports, a reply.
    kinds = {kind for kind, _ in expected}
    assert {"result", "MessageNotFound", "InvalidSendRequest", "InvalidCallback"} <= kinds
    assert expected[3][1].applied == 1 and expected[5][1].applied == 1


def test_background_runs_start_and_the_projections_report_their_lag(tmp_path):
    async def scenario() -> None:
        async with smsledger.AsyncSmsChannel(make_channel(tmp_path, "store")) as channel:
            runs = [await channel.keep_projections_current(0.05),
                    await channel.keep_maintenance_running(3600)]
            try:
                assert [run.name for run in runs] == ["projections", "maintenance"]
                lags = await channel.projection_lag()
                assert set(lags) == set(await channel.projection_names())
                name = next(iter(lags))
                assert (await channel.rebuild_projection(name)).startswith(name)
            finally:
                for run in runs:
                    await asyncio.to_thread(run.stop)

    asyncio.run(scenario())


# --- not blocking the loop -----------------------------------------------------------

class GatedProvider(ScriptedProvider):
    """Accepts what it is given only once the test opens the gate: a slow Infobip."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()

    def send(self, messages) -> list[SendOutcome]:
        self.entered.set()
        if not self.gate.wait(WAIT):
            raise AssertionError("the gate was never opened: the event loop was blocked")
        return list(super().send(messages))


def test_a_slow_send_leaves_the_event_loop_running(tmp_path):
    provider = GatedProvider()

    async def scenario() -> tuple[list[smsledger.SendResult], int]:
        channel = await smsledger.bootstrap_async(
            smsledger.StaticAccounts({}), settings(tmp_path), provider=provider,
            clock=FakeClock(T0))
        await asyncio.to_thread(channel.channel.projects.create_project, "acme")
        ticks = 0

        async def ticker() -> None:
            # Only a loop that keeps running while the send waits gets here, and only
            # this opens the gate the send waits on.
            nonlocal ticks
            await asyncio.to_thread(provider.entered.wait, WAIT)
            for _ in range(10):
                await asyncio.sleep(0.005)
                ticks += 1
            provider.gate.set()

        async with channel:
            results, _ = await asyncio.gather(channel.send("acme", [send("m-1")]), ticker())
        return results, ticks

    results, ticks = asyncio.run(scenario())
    assert [r.status for r in results] == ["enqueued"] and ticks == 10
    assert [m.message_id for m in provider.sent] == ["m-1"]


def test_operations_run_in_the_wrappers_own_pool_no_more_at_once_than_its_threads(tmp_path):
    channel = make_channel(tmp_path, "store")
    lock = threading.Lock()
    running: list[str] = []  # threads inside the channel now
    seen: set[str] = set()
    peak = 0
    release = threading.Event()
    name_of = channel.campaign_event_name

    def held_name(project_id: str) -> str:
        nonlocal peak
        with lock:
            running.append(threading.current_thread().name)
            seen.add(running[-1])
            peak = max(peak, len(running))
        release.wait(WAIT)
        with lock:
            running.pop()
        return name_of(project_id)

    channel.campaign_event_name = held_name  # type: ignore[method-assign]

    async def scenario() -> list[str]:
        async with smsledger.AsyncSmsChannel(channel, max_workers=2) as wrapper:
            calls = asyncio.gather(*(wrapper.campaign_event_name("acme") for _ in range(3)))
            for _ in range(200):
                if len(running) == 2:
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)
            assert len(running) == 2  # the third waits for a thread of the pool
            release.set()
            return await calls

    assert asyncio.run(scenario()) == ["campaign"] * 3
    assert peak == 2 and len(seen) == 2
    assert all(name.startswith("smsledger-async") for name in seen), seen
    with pytest.raises(ValueError, match="max_workers"):
        smsledger.AsyncSmsChannel(channel, max_workers=0)
    with pytest.raises(ValueError, match="max_workers"):
        asyncio.run(smsledger.bootstrap_async(settings=settings(tmp_path), max_workers=0))


# --- opening and closing -------------------------------------------------------------

def test_the_store_is_opened_off_the_loop(tmp_path, monkeypatch):
    opened_in: list[int] = []

    def recording_bootstrap(*args: Any, **kwargs: Any) -> smsledger.SmsChannel:
        opened_in.append(threading.get_ident())
        return smsledger.bootstrap(*args, **kwargs)

    monkeypatch.setattr(async_facade, "bootstrap", recording_bootstrap)

    async def scenario() -> int:
        async with await smsledger.bootstrap_async(smsledger.StaticAccounts({}),
                                                   settings(tmp_path)):
            return threading.get_ident()

    loop_thread = asyncio.run(scenario())
    assert len(opened_in) == 1 and opened_in[0] != loop_thread


def test_closing_waits_for_the_operations_under_way_then_refuses_more(tmp_path):
    provider = GatedProvider()
    channel = smsledger.bootstrap(smsledger.StaticAccounts({}), settings(tmp_path),
                                  provider=provider, clock=FakeClock(T0))
    channel.projects.create_project("acme")
    closed: list[bool] = []
    close = channel.close
    channel.close = lambda: (closed.append(True), close())[1]  # type: ignore[method-assign]

    async def scenario() -> list[smsledger.SendResult]:
        wrapper = smsledger.AsyncSmsChannel(channel)
        sending = asyncio.ensure_future(wrapper.send("acme", [send("m-1")]))
        await asyncio.to_thread(provider.entered.wait, WAIT)
        closing = asyncio.ensure_future(wrapper.close())
        await asyncio.sleep(0.1)
        assert not closed and not closing.done()  # the send is still under way
        provider.gate.set()
        results = await sending
        await closing
        assert closed == [True]
        with pytest.raises(RuntimeError, match="closed"):
            await wrapper.message("acme", "m-1")
        await wrapper.close()  # again: nothing more
        return results

    assert [r.status for r in asyncio.run(scenario())] == ["enqueued"]
    assert closed == [True]


def test_a_cancelled_bootstrap_closes_the_channel_it_was_opening(tmp_path, monkeypatch):
    gate = threading.Event()
    closed = threading.Event()

    def slow_bootstrap(*args: Any, **kwargs: Any) -> smsledger.SmsChannel:
        gate.wait(WAIT)
        channel = smsledger.bootstrap(*args, **kwargs)
        close = channel.close
        channel.close = lambda: (close(), closed.set())[0]  # type: ignore[method-assign]
        return channel

    monkeypatch.setattr(async_facade, "bootstrap", slow_bootstrap)

    async def scenario() -> None:
        opening = asyncio.ensure_future(smsledger.bootstrap_async(
            smsledger.StaticAccounts({}), settings(tmp_path)))
        await asyncio.sleep(0.05)
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening
        gate.set()
        assert await asyncio.to_thread(closed.wait, WAIT)

    asyncio.run(scenario())
