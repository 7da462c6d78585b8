"""Test support, never installed: run a whole Python process in shifted time.

The end-to-end tests put this folder on the PYTHONPATH of the processes they start (the real
`ozon-sync` command, and the sandbox when it should share the timeline). When
$FAKE_CLOCK_SHIFT_SECONDS is set, the interpreter starts with its wall clock (datetime.now,
time.time and the rest that time-machine patches) that many seconds away from real time,
ticking at real speed. Monotonic clocks, sleeps and timeouts stay real, so the scheduler's
waits are real seconds: a test sees an event due at a shifted instant arrive at that instant
minus the shift. Every process started with the same shift shares one timeline.
"""

from __future__ import annotations

import os

_SHIFT = os.environ.get("FAKE_CLOCK_SHIFT_SECONDS")
if _SHIFT:
    from datetime import UTC, datetime, timedelta

    import time_machine

    _TRAVEL = time_machine.travel(datetime.now(UTC) + timedelta(seconds=float(_SHIFT)), tick=True)
    _TRAVEL.start()
