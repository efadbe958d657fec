"""A long-lived event loop on a background thread, so MCP sessions outlive one synchronous invocation.

Lambda calls the handler synchronously; each call hands its coroutine to this
loop and waits. Between invocations of a warm function the loop (and the
sessions and caches it holds) stays as it was.
"""

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class BackgroundLoop:
    """Runs coroutines on one event loop owned by a daemon thread.

    Args:
        io_threads: Size of the loop's default executor (boto3 calls run there).
    """

    def __init__(self, io_threads: int = 32) -> None:
        self._io_threads = io_threads
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def _ensure(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                loop.set_default_executor(
                    ThreadPoolExecutor(self._io_threads, thread_name_prefix="bridge-io")
                )
                thread = threading.Thread(target=loop.run_forever, name="bridge-loop", daemon=True)
                thread.start()
                self._loop = loop
            return self._loop

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coro`` on the loop and wait for its result (from any thread but the loop's own)."""
        return asyncio.run_coroutine_threadsafe(coro, self._ensure()).result(timeout)

    def stop(self) -> None:
        """Stop the loop (tests and benchmarks)."""
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)
