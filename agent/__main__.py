"""``python -m agent``: serve the Runtime contract on 127.0.0.1:$CENTRALOPS_AGENT_PORT (default 8080)."""

import argparse
import logging
import os
import socket
import sys

from agent.app import create_app
from agent.config import AgentSettings
from agent.runner import AgentRuntime
from agent.warm import warm_in_background
from centralops import logs, tracing
from centralops.errors import ConfigurationError

logger = logging.getLogger("centralops.agent")


def main(argv: list[str] | None = None) -> int:
    """Start the agent server; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m agent", description=__doc__)
    parser.add_argument("--host", default=None, help="bind address (127.0.0.1 unless in a container)")
    parser.add_argument("--port", type=int, default=None, help="port (CENTRALOPS_AGENT_PORT, default 8080)")
    args = parser.parse_args(argv)
    logs.configure()
    tracing.setup("agent")
    # The Runtime app logs every task start and end at INFO with its own handler; ours are enough.
    logging.getLogger("bedrock_agentcore").setLevel(logging.WARNING)
    try:
        settings = AgentSettings.from_env()
        runtime = AgentRuntime.from_settings(settings)
        app = create_app(runtime)
    except ConfigurationError as e:
        print(f"agent: {e.message}", file=sys.stderr)
        return 2
    port = args.port or settings.port
    host = args.host or ("0.0.0.0" if _in_container() else "127.0.0.1")  # noqa: S104 - the container's port
    problem = _cannot_bind(host, port)
    if problem:
        print(
            f"agent: cannot listen on {host}:{port} ({problem}): another process is listening there. "
            f"Find it with `ss -ltnp 'sport = :{port}'` and stop it, or set CENTRALOPS_AGENT_PORT.",
            file=sys.stderr,
        )
        return 1
    logger.info(
        "agent listening", extra={"host": host, "port": port, "model_provider": settings.model_provider}
    )
    warm_in_background(runtime)  # the first question then finds clients, keys and tokens ready
    app.run(port=port, host=host)
    return 0


def _in_container() -> bool:
    # Only our image says so (agent/Dockerfile sets DOCKER_CONTAINER): a developer's machine that
    # happens to be a container (/.dockerenv) keeps the local stack on loopback.
    return bool(os.environ.get("DOCKER_CONTAINER"))


def _cannot_bind(host: str, port: int) -> str | None:
    """Why ``host:port`` cannot be bound, or ``None`` when it can."""
    with socket.socket() as s:
        # As the server itself binds: a port left in TIME_WAIT by a crashed agent is free at once.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            return e.strerror or str(e)
    return None


if __name__ == "__main__":
    sys.exit(main())
