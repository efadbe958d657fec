"""Fault switches on the local stack's processes: freeze one (SIGSTOP) and thaw it after a while.

A frozen process keeps its sockets: the kernel still accepts connections and
queues requests, but nothing answers until it thaws, which is how a stalled
service or a long garbage-collection pause looks to its clients (unlike a
refused connection, no client error comes back at once).
"""

import contextlib
import os
import signal
import threading


def freeze(pid: int, seconds: float) -> threading.Timer:
    """Stop process ``pid`` now and continue it after ``seconds``; returns the thaw timer.

    Calling ``.join()`` on the timer waits until the process runs again; ``thaw(pid)`` ends the
    freeze early.
    """
    os.kill(pid, signal.SIGSTOP)
    timer = threading.Timer(seconds, thaw, args=(pid,))
    timer.daemon = True
    timer.start()
    return timer


def thaw(pid: int) -> None:
    """Continue a frozen process (nothing happens if it has exited)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGCONT)
