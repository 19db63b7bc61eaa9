"""One function's concurrency, as Lambda gives each function its own: `local/event_sources.py` delivers
through one pool per function."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable

IDLE_SECONDS = 30.0  # a delivery thread without work for this long ends
Task = Callable[[bool], None]  # a delivery: called with True when stop() cut it off before it ran


class FunctionPool:
    """One function's concurrent invocations: at most `limit` at once, on daemon threads started as
    needed and ended after IDLE_SECONDS without work (an idle function costs nothing, a burst leaves no
    threads behind, and a process exit never waits for an invocation)."""

    def __init__(self, name: str, limit: int) -> None:
        self.name = name
        self.limit = limit
        self._tasks: deque[Task] = deque()
        self._threads = 0
        self._pending = 0  # queued or running
        self._changed = threading.Condition()
        self.stopped = False

    def room(self) -> int:
        with self._changed:
            return self.limit - self._pending

    def wait_for_room(self, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._pending < self.limit or self.stopped, timeout)

    def submit(self, task: Task) -> None:
        with self._changed:
            self._pending += 1
            self._tasks.append(task)
            start = self._threads < min(self.limit, self._pending)
            if start:
                self._threads += 1
            self._changed.notify_all()
        if start:
            threading.Thread(target=self._work, name=f"{self.name}-{self._threads}", daemon=True).start()

    def _work(self) -> None:
        while True:
            with self._changed:
                # Ends when idle, or at once when stopped with nothing left (stop() cuts queued tasks off).
                if not self._changed.wait_for(lambda: self._tasks or self.stopped, IDLE_SECONDS) or not self._tasks:
                    self._threads -= 1
                    return
                task = self._tasks.popleft()
            try:
                task(self.stopped)
            finally:
                with self._changed:
                    self._pending -= 1
                    self._changed.notify_all()

    def stop(self) -> None:
        with self._changed:
            self.stopped = True
            self._changed.notify_all()
