"""The email of a Teams user, for the sign-in callback's email check.

Teams activities carry no email. When the bot sends someone a sign-in card it
asks the Bot Connector's member API (the SDK's ``TeamsConnectorClient``,
``GET /v3/conversations/{team or chat}/members/{user}``) for the
person's email (or user principal name) and keeps it for the life of a
sign-in link, in DynamoDB so whichever replica serves ``/auth/callback`` can
compare it with the Cognito email.
"""

import logging
import time

from botocore.exceptions import BotoCoreError, ClientError
from microsoft_agents.hosting.core import TurnContext
from microsoft_agents.hosting.core.connector import ConnectorClientBase
from microsoft_agents.hosting.core.connector.teams import TeamsConnectorClient

from bot.dynamo import DynamoTable, storage_error
from bot.identity import STATE_TTL_S
from bot.teams.activities import split_conversation

logger = logging.getLogger(__name__)


def _key(tenant: str, user: str) -> dict[str, dict[str, str]]:
    return {"key": {"S": f"teams-email#{tenant}#{user}"}}


class TeamsEmails:
    """Teams users' emails, kept as long as a sign-in link lives.

    Args:
        table: The idempotency table (partition key ``key``, TTL attribute ``ttl``).
        ttl_s: How long an email is kept (a sign-in link's life, plus a margin).
    """

    def __init__(self, table: DynamoTable, *, ttl_s: int = STATE_TTL_S + 300) -> None:
        self.table = table
        self.ttl_s = ttl_s

    async def remember_sender(self, context: TurnContext, tenant: str, user: str) -> str | None:
        """Ask the Connector for the sender's email and keep it; ``None`` when Teams did not say."""
        activity = context.activity
        sender = activity.from_property
        client = context.services.get(ConnectorClientBase)  # type: ignore[type-abstract]  # the SDK keys it so
        if sender is None or not sender.id or not isinstance(client, TeamsConnectorClient):
            return None
        data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
        # A team's members are listed on the team; a chat's on the chat (without ;messageid=).
        where = (data.get("team") or {}).get("id") or split_conversation(activity.conversation.id)[0]
        try:
            member = await client.get_conversation_member(where, sender.id)
        except Exception as e:  # the SDK raises plain exceptions for connector failures
            logger.warning("teams member lookup failed", extra={"user": user, "error": type(e).__name__})
            return None
        email = member.email or member.user_principal_name
        if not email:
            return None
        try:
            await self.table.call(
                self.table.client.put_item,
                Item={
                    **_key(tenant, user),
                    "email": {"S": str(email)},
                    "ttl": {"N": str(int(time.time()) + self.ttl_s)},
                },
            )
        except (BotoCoreError, ClientError) as e:
            logger.warning("teams email not stored", extra={"user": user, "error": type(e).__name__})
            return None
        return str(email)

    async def lookup(self, tenant: str, user: str) -> str | None:
        """The email kept for a Teams user, or ``None``.

        Raises:
            StorageError: DynamoDB failed.
        """
        try:
            out = await self.table.call(
                self.table.client.get_item, Key=_key(tenant, user), ConsistentRead=True
            )
        except (BotoCoreError, ClientError) as e:
            raise storage_error(e, "read your Teams profile") from e
        item = out.get("Item") or {}
        expired = int(item.get("ttl", {}).get("N", "0")) < int(time.time())
        return None if expired else item.get("email", {}).get("S")
