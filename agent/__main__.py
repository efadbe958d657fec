"""``python -m agent``: serve the Runtime contract on 127.0.0.1:$CENTRALOPS_AGENT_PORT (default 8080)."""

import argparse
import logging
import sys

from agent.app import create_app
from agent.config import AgentSettings
from agent.runner import AgentRuntime
from centralops import logs
from centralops.errors import ConfigurationError

logger = logging.getLogger("centralops.agent")


def main(argv: list[str] | None = None) -> int:
    """Start the agent server; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m agent", description=__doc__)
    parser.add_argument("--host", default=None, help="bind address (127.0.0.1 unless in a container)")
    parser.add_argument("--port", type=int, default=None, help="port (CENTRALOPS_AGENT_PORT, default 8080)")
    args = parser.parse_args(argv)
    logs.configure()
    # The Runtime app logs every task start and end at INFO with its own handler; ours are enough.
    logging.getLogger("bedrock_agentcore").setLevel(logging.WARNING)
    try:
        settings = AgentSettings.from_env()
        app = create_app(AgentRuntime.from_settings(settings))
    except ConfigurationError as e:
        print(f"agent: {e.message}", file=sys.stderr)
        return 2
    port = args.port or settings.port
    logger.info("agent listening", extra={"port": port, "model_provider": settings.model_provider})
    try:
        app.run(port=port, host=args.host)
    except OSError as e:
        print(
            f"agent: cannot listen on port {port}: {e}. Free the port or set CENTRALOPS_AGENT_PORT.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
