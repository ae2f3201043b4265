"""hearlike.cache.file_lock: a second holder waits until the first releases the lock."""

from __future__ import annotations

import threading
import time

from hearlike.cache import file_lock


def test_a_second_holder_waits_for_the_first(tmp_path):
    lock = tmp_path / "grid-x.grid.lock"
    held, events = threading.Event(), []

    def first():
        with file_lock(lock):
            held.set()
            time.sleep(0.3)
            events.append("first released")

    def second():
        held.wait()
        with file_lock(lock):
            events.append("second acquired")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert events == ["first released", "second acquired"]
    with file_lock(lock):  # released by both: free again
        assert lock.exists()
