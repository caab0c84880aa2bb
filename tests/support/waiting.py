"""Polling for what happens in another thread or process."""

import time


def wait_for(condition, timeout: float = 15) -> None:
    """Poll until `condition()` holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)
