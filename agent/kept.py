"""An approved run that finishes, and is remembered, even when the chat side stops listening.

The run's events are produced by a task of their own and handed over through a
queue. If the caller goes away (the bot replica was stopped and the Runtime
connection closed), the task still runs to its end and the answer it produced
is kept, so a later resume shows it instead of running the command again.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Callable

from centralops.events import Event

logger = logging.getLogger(__name__)

_RUNNING: set[asyncio.Task[None]] = set()  # strong references until each run ends


async def kept_run(run: AsyncIterator[Event], keep: Callable[[str], None]) -> AsyncIterator[Event]:
    """Yield ``run``'s events; when it ends, ``keep`` the text it produced (in a worker thread).

    Args:
        run: The events of the approved run.
        keep: Stores the answer text; called once, whether or not anyone still listens.
    """
    queue: asyncio.Queue[Event | None] = asyncio.Queue()

    async def produce() -> None:
        shown: list[str] = []
        try:
            async for event in run:
                if event["type"] == "text":
                    shown.append(event["delta"])
                elif event["type"] == "table":
                    shown.append("\n\n" + " | ".join(str(c) for c in event["columns"]) + "\n")
                    shown.extend(" | ".join(str(v) for v in row) + "\n" for row in event["rows"])
                queue.put_nowait(event)
        except Exception:
            logger.exception("approved run failed")
            raise
        finally:
            queue.put_nowait(None)
            if shown:
                await asyncio.to_thread(keep, "".join(shown).strip())

    task = asyncio.create_task(produce())
    _RUNNING.add(task)
    task.add_done_callback(_RUNNING.discard)
    while (event := await queue.get()) is not None:
        yield event
    await task  # its failure, if any, reaches the caller as before
