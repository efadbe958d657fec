"""The model of the model path, chosen by configuration.

``CENTRALOPS_MODEL_PROVIDER``: ``bedrock`` (Claude on Amazon Bedrock, the
default in AWS), ``anthropic``, ``openai`` (any OpenAI-compatible server),
``ollama``, or ``offline`` (the deterministic planner, the default of the
local stack).
"""

from strands.models.model import Model

from agent.config import AgentSettings
from agent.planner import OfflinePlanner
from centralops.errors import ConfigurationError

PROVIDERS = ("offline", "bedrock", "anthropic", "openai", "ollama")
DEFAULT_MODEL_IDS = {
    "bedrock": "us.anthropic.claude-sonnet-4-20250514-v1:0",
    "anthropic": "claude-sonnet-4-20250514",
    "openai": "gpt-4o",
    "ollama": "llama3.1",
}


def _missing(provider: str, extra: str) -> ConfigurationError:
    return ConfigurationError(
        f"The '{provider}' model provider needs an extra package: pip install 'strands-agents[{extra}]'."
    )


def build_model(settings: AgentSettings) -> Model:
    """Build the configured model.

    Raises:
        ConfigurationError: Unknown provider, or its client package is not installed.
    """
    provider = settings.model_provider
    model_id = settings.model_id or DEFAULT_MODEL_IDS.get(provider, "")
    if provider == "offline":
        return OfflinePlanner()
    if provider == "bedrock":
        from strands.models.bedrock import BedrockModel

        return BedrockModel(model_id=model_id, region_name=settings.model_region)
    if provider == "anthropic":
        try:
            from strands.models.anthropic import AnthropicModel
        except ImportError as e:
            raise _missing(provider, "anthropic") from e
        return AnthropicModel(model_id=model_id, max_tokens=4096)
    if provider == "openai":
        try:
            from strands.models.openai import OpenAIModel
        except ImportError as e:
            raise _missing(provider, "openai") from e
        client_args = {"base_url": settings.model_base_url} if settings.model_base_url else None
        return OpenAIModel(client_args=client_args, model_id=model_id)
    if provider == "ollama":
        try:
            from strands.models.ollama import OllamaModel
        except ImportError as e:
            raise _missing(provider, "ollama") from e
        return OllamaModel(settings.model_base_url or "http://127.0.0.1:11434", model_id=model_id)
    raise ConfigurationError(
        f"CENTRALOPS_MODEL_PROVIDER={provider!r} is not known; use one of {', '.join(PROVIDERS)}."
    )
