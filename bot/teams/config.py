"""The Teams edge's typed settings, read once at start (explicit argument > environment > default)."""

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from centralops import settings as s
from centralops.errors import ConfigurationError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TeamsConfig:
    """Where the bot's Azure Bot registration is and how the Teams edge behaves.

    Attributes:
        app_id: The Microsoft App ID of the Azure Bot (``aud`` of every incoming token).
        app_password: The app registration's client secret, used to call the Bot Connector.
        tenant_id: The Entra tenant of a single-tenant app registration.
        anonymous: Accept activities without a Bot Framework token. Only for the local stack.
        update_interval_s: Shortest gap between two updates of one channel message.
        bot_name: How people mention the bot (``@CentralOps``).
        click_wait_s: How long a card click waits for its decision before answering Teams.
    """

    app_id: str | None = s.setting(s.TEAMS_APP_ID, reader=s.env_opt)
    app_password: str | None = s.setting(s.TEAMS_APP_PASSWORD, reader=s.env_opt)
    tenant_id: str | None = s.setting(s.TEAMS_TENANT_ID, reader=s.env_opt)
    anonymous: bool = s.setting(s.TEAMS_ANONYMOUS, False, s.env_bool)
    update_interval_s: float = s.setting(s.TEAMS_UPDATE_INTERVAL_S, 1.5, s.env_float)
    bot_name: str = s.fixed("CentralOps")
    click_wait_s: float = s.fixed(8.0)

    @property
    def enabled(self) -> bool:
        """Whether ``/api/messages`` should be served at all."""
        return bool(self.app_id) or self.anonymous

    @property
    def prefix(self) -> str:
        """How help texts address the bot."""
        return f"@{self.bot_name}"

    def validate(self) -> None:
        """Refuse a configuration that would accept forged activities or could never answer.

        Raises:
            ConfigurationError: An app id without a password, or neither an app id nor anonymous mode.
        """
        if self.anonymous:
            return
        if not self.app_id:
            raise ConfigurationError(
                f"Set {s.TEAMS_APP_ID} (the Azure Bot's Microsoft App ID) to serve Teams, "
                f"or {s.TEAMS_ANONYMOUS}=true on the local stack."
            )
        if not self.app_password:
            raise ConfigurationError(
                f"Set {s.TEAMS_APP_PASSWORD}: without the app's client secret the bot cannot answer in Teams."
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "TeamsConfig":
        """Build the settings from the environment.

        Raises:
            ConfigurationError: A variable is malformed.
        """
        return s.from_env(cls, environ)
