"""Replays, retries, duplicates and out-of-order callbacks never change a count:
the same callbacks ingested twice, shuffled, from several threads at once."""

import random
import threading
from datetime import timedelta

from smsledger.application.commands import ProviderReport, SendRequest
from support.statuses import outcome

FINALS = [("DELIVERED_TO_HANDSET", None), ("REJECTED_NETWORK", None),
          ("UNDELIVERABLE_NOT_DELIVERED", "EC_UNIDENTIFIED_SUBSCRIBER"), ("EXPIRED_EXPIRED", None)]


def test_shuffled_duplicated_concurrent_callbacks_give_exact_counts(make_ledger, database_url, clock):
    ledger = make_ledger()
    results = ledger.send("acme", [SendRequest(customer_id=f"c{i}", to="+385921234567", text="Hi",
                                               campaign_id="flash") for i in range(120)])
    rng = random.Random(7)
    reports, expected = [], {"delivered": 0, "rejected": 0, "failed": 0}
    for i, result in enumerate(results):
        sent = clock.now()
        if i % 10 == 9:
            continue  # no report: stays pending
        status, error = FINALS[i % len(FINALS)]
        expected[{"DELIVERED_TO_HANDSET": "delivered", "REJECTED_NETWORK": "rejected"}.get(status, "failed")] += 1
        reports.append(ProviderReport(result.message_id, outcome("PENDING_ENROUTE", sent_at=sent, done_at=sent + timedelta(seconds=1))))
        reports.append(ProviderReport(result.message_id, outcome(status, error=error, sent_at=sent, done_at=sent + timedelta(seconds=5))))
    callbacks = [reports[i:i + 10] for i in range(0, len(reports), 10)] * 2
    rng.shuffle(callbacks)
    callbacks = [rng.sample(c, len(c)) for c in callbacks]

    # Memory is one process's store, shared; durable stores get a worker (ledger) per thread.
    workers = [ledger] * 4 if database_url.startswith("memory") else [make_ledger() for _ in range(4)]
    errors = []

    def work(worker, share):
        try:
            for callback in share:
                worker.record_reports("acme", callback)
        except Exception as exc:  # surfaced below: a lost callback must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(w, callbacks[n::4])) for n, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []

    audit = ledger.audit("acme", "flash")
    assert audit.drift == []
    assert {k: audit.counts[k] for k in expected} == expected
    assert audit.counts["pending"] == 12 and audit.counts["requested"] == 120
    events = ledger.campaign_events("acme", limit=1000).events
    assert len(events) == 120 + 108 and len({e.event_id for e in events}) == len(events)
