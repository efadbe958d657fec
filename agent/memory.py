"""Conversation memory per session id (the chat thread), persisted in S3.

Strands' ``S3SessionManager`` stores the agent's messages under
``<prefix>session_<id>/``; every invocation of the same session restores
them, so "and in production?" is understood — also after the agent restarts.
In AWS the bucket is a real S3 bucket; locally moto serves it.
"""

import hashlib
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from strands.session import S3SessionManager
from strands.types.content import Message
from strands.types.session import SessionAgent, SessionMessage

from agent.config import AgentSettings
from centralops.errors import CentralOpsError

AGENT_ID = "centralops"
_SAFE = re.compile(r"^[A-Za-z0-9._:=@+-]{1,200}$")


def storage_id(session_id: str) -> str:
    """A key-safe form of a session id (hashed when it holds separators or odd characters)."""
    if _SAFE.match(session_id) and session_id not in {".", ".."}:
        return session_id
    return "h-" + hashlib.sha256(session_id.encode()).hexdigest()[:40]


class MemoryUnavailableError(CentralOpsError):
    """The conversation could not be saved."""

    code = "memory_unavailable"


class BufferedS3SessionManager(S3SessionManager):
    """An S3 session manager whose writes run in the background, in order.

    Reading the history happens when the agent is built; the writes of the
    turn (messages, agent state) go to one worker thread so the answer is not
    held up by S3 round trips. :meth:`flush` waits for them; the agent calls it
    before it reports ``done``, so a finished invocation is a saved one.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memory-writer")
        self._pending: list[Future[None]] = []

    def create_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any
    ) -> None:
        """Queue the write of a new message."""
        self._pending.append(
            self._writer.submit(super().create_message, session_id, agent_id, session_message)
        )

    def update_message(
        self, session_id: str, agent_id: str, session_message: SessionMessage, **kwargs: Any
    ) -> None:
        """Queue the rewrite of a message."""
        self._pending.append(
            self._writer.submit(super().update_message, session_id, agent_id, session_message)
        )

    def update_agent(self, session_id: str, session_agent: SessionAgent, **kwargs: Any) -> None:
        """Queue the write of the agent's state."""
        self._pending.append(self._writer.submit(super().update_agent, session_id, session_agent))

    def flush(self) -> None:
        """Wait for every queued write, then stop the writer.

        Raises:
            MemoryUnavailableError: A write failed; the conversation may lack this turn.
        """
        try:
            for future in self._pending:
                future.result()
        except (BotoCoreError, ClientError, OSError) as e:
            raise MemoryUnavailableError(
                "The answer above is complete, but this conversation could not be saved; "
                "a follow-up in this thread may not remember it."
            ) from e
        finally:
            self._pending.clear()
            self._writer.shutdown(wait=False)


_sessions: dict[str, boto3.Session] = {}
_sessions_lock = threading.Lock()


def _boto_session(region: str) -> boto3.Session:
    # One boto3 session per process: it caches the service models, so each
    # invocation's S3 client is cheap to create.
    with _sessions_lock:
        if region not in _sessions:
            _sessions[region] = boto3.Session(region_name=region)
        return _sessions[region]


def session_manager(settings: AgentSettings, session_id: str) -> BufferedS3SessionManager | None:
    """The session manager of ``session_id``; ``None`` when no memory bucket is configured."""
    if not settings.memory_bucket:
        return None
    boto_session = _boto_session(settings.region)
    with _sessions_lock:  # creating clients from one boto3 session is not thread-safe
        return BufferedS3SessionManager(
            session_id=storage_id(session_id),
            bucket=settings.memory_bucket,
            prefix=settings.memory_prefix,
            boto_session=boto_session,
            endpoint_url=settings.endpoint_url,
        )


def remember(settings: AgentSettings, session_id: str, prompt: str, answer: str) -> None:
    """Add a question and its answer to the session (the direct path has no agent of its own).

    Raises:
        MemoryUnavailableError: The exchange could not be saved.
    """
    manager = session_manager(settings, session_id)
    if manager is None:
        return
    from strands import Agent

    from agent.planner import OfflinePlanner

    # An agent bound to the session reads its history, so the exchange is appended after it.
    agent = Agent(model=OfflinePlanner(), session_manager=manager, agent_id=AGENT_ID, callback_handler=None)
    exchange: list[Message] = [
        {"role": "user", "content": [{"text": prompt}]},
        {"role": "assistant", "content": [{"text": answer}]},
    ]
    for message in exchange:
        agent.messages.append(message)
        manager.append_message(message, agent)
    manager.sync_agent(agent)
    manager.flush()
