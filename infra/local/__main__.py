"""``python -m infra.local up|demo|chat`` — the local stack for people.

- ``up`` starts the stack and keeps it running until Ctrl-C.
- ``demo`` starts it, plays a short Slack (and Teams) session through the real
  bot, prints what the chat would show, and stops.
- ``chat`` starts it and lets you talk to the bot as a demo user.
"""

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

from centralops import logs
from infra.local.stack import LocalStack, Ports, StackError

ROOT = Path(".local")


def _up(stack: LocalStack) -> int:
    info = stack.start()
    print(f"CentralOps local stack is up (logs in {stack.root / 'logs'}):")
    print(f"  bot (Slack /slack/events, Teams /api/messages)  {info.bot_url}")
    print(f"  agent (AgentCore Runtime contract)              {info.runtime_url}")
    print(f"  gateway (MCP)                                   {info.gateway_url}")
    print(f"  AWS MCP Server stand-in                         {info.aws_mcp_url}")
    print(f"  Slack Web API stand-in                          {info.slack_api_url}")
    print(f"  moto (AWS)                                      {info.moto_url}")
    print("Press Ctrl-C to stop.")
    try:
        while all(p.popen.poll() is None for p in stack.processes):
            time.sleep(0.5)
        dead = [p.name for p in stack.processes if p.popen.poll() is not None]
        print(f"Stopping: {', '.join(dead)} exited; see its log in {stack.root / 'logs'}.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m infra.local``."""
    parser = argparse.ArgumentParser(prog="python -m infra.local", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["up", "demo", "chat"])
    parser.add_argument("--root", type=Path, default=ROOT, help="folder for logs and state (default .local)")
    parser.add_argument(
        "--free-ports", action="store_true", help="use any free ports instead of the defaults"
    )
    args = parser.parse_args(argv)
    logs.configure("text", "WARNING")
    logging.getLogger("centralops.local").setLevel(logging.INFO)
    stack = LocalStack(args.root, Ports.free() if args.free_ports else Ports())
    try:
        if args.command == "up":
            return _up(stack)
        from infra.local.consoles import demo as console

        print(
            "Starting the local stack (moto, AWS MCP Server, Gateway, agent, bot, Slack and Teams stand-ins)…",
            flush=True,
        )
        started = time.monotonic()
        info = stack.start()
        print(f"Ready in {time.monotonic() - started:.1f} s.\n", flush=True)
        if args.command == "demo":
            return asyncio.run(console.demo(info))
        return asyncio.run(console.chat(info))
    except StackError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
