"""A writer that keeps an application busy from a thread while a backup runs, for the consistency-under-load tests.

A subclass writes in `run()` until `done` is set, counting what the application acknowledged in `acknowledged`;
whatever stops the thread is kept in `error` for the test to report. Used as a context manager: it starts on
entry, and on exit it is stopped and joined (a writer that does not stop fails the test).
"""

from __future__ import annotations

import threading


class BackgroundWriter:
    def __init__(self):
        self.acknowledged = 0
        self.error: str | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._guarded, daemon=True)

    def run(self) -> None:
        raise NotImplementedError

    def _guarded(self):
        try:
            self.run()
        except Exception as exc:  # noqa: BLE001 - whatever stopped the thread is reported by the test
            self.error = f"the writer stopped: {exc!r}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join(timeout=120)
        assert not self.thread.is_alive(), "the writer did not stop"
