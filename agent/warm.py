"""What the agent prepares before its first invocation, so the first question is not the slow one.

AgentCore Runtime routes invocations to the container as soon as ``/ping``
answers; everything the first invocation would otherwise build on its way to
the first text is built here instead, on a background thread started with the
server: the AWS clients (creating one loads its service model; it sends no
request), the user pool's signing keys, the agent's own actor token for the
token exchange, and the account registry.

Nothing prepared here belongs to a person: the keys are public, the actor
token is this service's own, the clients carry the agent's role and the
registry is the organisation's list, checked against each caller's groups
on every use. A step that fails is only logged; the first invocation meets
it again and reports it as usual.
"""

import logging
import threading
import time
from collections.abc import Callable

from agent.runner import AgentRuntime

logger = logging.getLogger(__name__)


def steps(runtime: AgentRuntime) -> dict[str, Callable[[], object]]:
    """The preparations, by name, in the order the first direct answer needs them."""
    out: dict[str, Callable[[], object]] = {
        "signing keys": runtime.verifier.prefetch,
        "token exchange client": runtime.exchanger.client,
        "actor token": runtime.exchanger.actor_token,
        "account registry": runtime.registry.all,
    }
    if runtime.memory is not None:
        memory = runtime.memory
        out["conversation memory client"] = lambda: memory.client
    return out


def warm(runtime: AgentRuntime, *, attempts: int = 5, pause_s: float = 1.0) -> None:
    """Run every step, retrying one that fails (a peer still starting) ``attempts`` times."""
    started = time.monotonic()
    for name, step in steps(runtime).items():
        for attempt in range(1, attempts + 1):
            try:
                step()
                break
            except Exception as e:  # best effort: the first invocation reports the real error
                if attempt == attempts:
                    logger.warning("warm-up step failed", extra={"step": name, "error": type(e).__name__})
                else:
                    time.sleep(pause_s)
    logger.info("agent warmed up", extra={"ms": int((time.monotonic() - started) * 1000)})


def warm_in_background(runtime: AgentRuntime) -> threading.Thread:
    """Start :func:`warm` on a daemon thread (the server starts meanwhile)."""
    thread = threading.Thread(target=warm, args=(runtime,), name="agent-warm-up", daemon=True)
    thread.start()
    return thread
