"""Where the bot keeps identity links and sign-in states, and where its user pool is."""

from collections.abc import Mapping
from dataclasses import dataclass

from bot.identity.cognito import CognitoSettings
from centralops import settings as s


@dataclass(frozen=True)
class IdentitySettings:
    """The identity service's settings, part of :class:`bot.config.BotConfig`.

    Attributes:
        links_table: DynamoDB table of identity links.
        states_table: DynamoDB table of pending sign-in (OAuth) states.
        kms_key_id: The KMS key that encrypts the refresh tokens in the links.
        public_url: The bot's public base URL (the sign-in routes).
        cognito: The user pool, its app client and its hosted UI.
    """

    links_table: str = s.setting(s.IDENTITY_LINKS_TABLE)
    states_table: str = s.setting(s.OAUTH_STATES_TABLE)
    kms_key_id: str = s.setting(s.KMS_KEY_ID)
    public_url: str = s.setting(s.PUBLIC_URL)
    cognito: CognitoSettings = s.derived()  # noqa: RUF009 - a dataclasses.field

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "IdentitySettings":
        """Read the identity settings.

        Raises:
            ConfigurationError: A required variable is missing.
        """
        return s.from_env(cls, environ, cognito=CognitoSettings.from_env(environ))
