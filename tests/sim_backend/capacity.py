"""Service slots of one model: at most ``slots`` calls in service, the others wait in FIFO order.

Contract of ``Pool(slots_of)`` (event-loop thread only; ``slots_of()`` returns the model's
current slot count, None = unlimited, and is read at every decision, so a runtime change applies
to the next decisions; call ``wake()`` after a change so that more slots let waiters in):
- ``busy``: calls holding a slot; ``queued``: calls waiting for one.
- ``would_wait()``: whether a call arriving now would have to wait.
- ``enter()``: None when the call got a slot at once, else a future (appended to the queue)
  that gets its result when the slot is handed over to that call (strict FIFO: a slot freed
  while calls wait goes to the oldest waiter, never to a newcomer).
- ``exit(fut)``: the call is done with its place, whatever happened: when it holds a slot (fut is
  None or has its result) the slot is released and handed to the next waiter; when it is still
  waiting (or was cancelled) it leaves the queue. Call it exactly once, in a ``finally``.
"""

from __future__ import annotations

import asyncio
import collections


class Pool:
    """See the module docstring."""

    def __init__(self, slots_of):
        self.slots_of = slots_of
        self.busy = 0
        self.waiters: collections.deque[asyncio.Future] = collections.deque()

    @property
    def queued(self) -> int:
        return len(self.waiters)

    def _free(self) -> bool:
        slots = self.slots_of()
        return slots is None or self.busy < slots

    def would_wait(self) -> bool:
        return bool(self.waiters) or not self._free()

    def enter(self) -> asyncio.Future | None:
        if not self.would_wait():
            self.busy += 1
            return None
        fut = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        return fut

    @staticmethod
    def holds(fut: asyncio.Future | None) -> bool:
        """Whether the call that got ``fut`` from enter() holds a slot."""
        return fut is None or (fut.done() and not fut.cancelled())

    def exit(self, fut: asyncio.Future | None) -> None:
        if self.holds(fut):
            self.busy -= 1
        else:
            fut.cancel()
            try:
                self.waiters.remove(fut)
            except ValueError:
                pass
        self.wake()

    def wake(self) -> None:
        """Hand free slots to the oldest waiters."""
        while self.waiters and self._free():
            fut = self.waiters.popleft()
            if fut.done():  # cancelled, not yet removed
                continue
            self.busy += 1
            fut.set_result(None)
