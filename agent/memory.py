"""Conversation memory per session id (the chat thread), persisted in S3.

Strands' ``S3SessionManager`` stores the agent's messages under
``<prefix>session_<id>/``; every invocation of the same session restores
them, so "and in production?" is understood — also after the agent restarts.
In AWS the bucket is a real S3 bucket; locally moto serves it.
"""

import hashlib
import re

import boto3
from strands.session import S3SessionManager, SessionManager

from agent.config import AgentSettings

AGENT_ID = "centralops"
_SAFE = re.compile(r"^[A-Za-z0-9._:=@+-]{1,200}$")


def storage_id(session_id: str) -> str:
    """A key-safe form of a session id (hashed when it holds separators or odd characters)."""
    if _SAFE.match(session_id) and session_id not in {".", ".."}:
        return session_id
    return "h-" + hashlib.sha256(session_id.encode()).hexdigest()[:40]


def session_manager(settings: AgentSettings, session_id: str) -> SessionManager | None:
    """The session manager of ``session_id``; ``None`` when no memory bucket is configured."""
    if not settings.memory_bucket:
        return None
    return S3SessionManager(
        session_id=storage_id(session_id),
        bucket=settings.memory_bucket,
        prefix=settings.memory_prefix,
        boto_session=boto3.Session(region_name=settings.region),
        endpoint_url=settings.endpoint_url,
    )
