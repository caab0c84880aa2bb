"""Polling for what happens in another thread or process."""

import time


def wait_for(condition, timeout: float = 15, what: str = "the condition"):
    """Poll until `condition()` gives something true, and return that; fail after
    `timeout` seconds, naming `what` was awaited."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return value
