"""An emulated accelerator for the recorder's accelerator mode (no torch here).

One :class:`EmulatedDevice` per rank: a FIFO of timed work items and one worker thread that
waits each item out with ``time.sleep``, so a running item holds neither the GIL nor a core,
as a running CUDA kernel leaves the host free. The host enqueues (:meth:`EmulatedDevice.enqueue`
returns at once with a :class:`DeviceEvent`), and waits where a GPU program would: on an
event (:meth:`DeviceEvent.wait`) or on the whole queue (:meth:`EmulatedDevice.synchronize`).

Items run back to back: item *k* starts at ``max(enqueued_k, end_{k-1})`` and ends
``duration_s`` later. The worker sleeps towards that absolute deadline, so the sleep's own
overshoot (tens of microseconds) does not add up over a chain of items; how late each item
finished is kept (:attr:`EmulatedDevice.late_s`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class DeviceEvent:
    """One enqueued work item; ``start_s``/``end_s`` are set by the device (its clock, s)."""

    duration_s: float
    label: str
    enqueued_s: float
    start_s: float | None = None
    end_s: float | None = None
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block the calling (host) thread until the item has run; True when it has."""
        return self._done.wait(timeout_s)

    @property
    def done(self) -> bool:
        """Whether the item has run."""
        return self._done.is_set()


class EmulatedDevice:
    """A FIFO of timed work run by one worker thread (one per rank).

    Args:
        clock: seconds, monotonic (``time.perf_counter``); tests pass a virtual clock.
        sleep: sleeps the worker for the given seconds (``time.sleep``); with a virtual clock
            it advances that clock.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._queue: deque[DeviceEvent] = deque()
        self._cv = threading.Condition()
        self._tail: DeviceEvent | None = None
        self._closed = False
        self._last_end_s = float("-inf")
        #: per finished item, how much later than its deadline it finished (s)
        self.late_s: list[float] = []
        #: every finished item, in order (label, start_s, end_s)
        self.log: list[tuple[str, float, float]] = []
        self._worker = threading.Thread(target=self._run, name="commsim-device", daemon=True)
        self._worker.start()

    def enqueue(self, duration_s: float, label: str = "") -> DeviceEvent:
        """Queue ``duration_s`` of device work; return its event at once.

        Raises:
            ValueError: negative duration, or the device is closed.
        """
        if duration_s < 0:
            raise ValueError(f"duration_s must be >= 0, got {duration_s}")
        ev = DeviceEvent(duration_s, label, self._clock())
        with self._cv:
            if self._closed:
                raise ValueError("device is closed")
            self._queue.append(ev)
            self._tail = ev
            self._cv.notify()
        return ev

    def tail(self) -> DeviceEvent | None:
        """The last item enqueued (None before the first)."""
        with self._cv:
            return self._tail

    def synchronize(self) -> None:
        """Block until every item enqueued so far has run."""
        tail = self.tail()
        if tail is not None:
            tail.wait()

    def close(self) -> None:
        """Finish the queued items, then stop the worker."""
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._worker.join()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._queue and not self._closed:
                    self._cv.wait()
                if not self._queue:
                    return
                ev = self._queue.popleft()
            start = max(ev.enqueued_s, self._last_end_s)
            deadline = start + ev.duration_s
            now = self._clock()
            while now < deadline:
                self._sleep(deadline - now)
                now = self._clock()
            ev.start_s, ev.end_s = start, now
            self._last_end_s = deadline
            self.late_s.append(now - deadline)
            self.log.append((ev.label, start, now))
            ev._done.set()
