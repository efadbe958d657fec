"""The demo and the interactive console, both through the real bot.

Everything goes the production way: signed Slack requests into Bolt, the bot's
Web API calls into the stand-in, the thread read back and printed as Slack
would show it.
"""

import asyncio
import sys
import time

from infra.local import org
from infra.local.alerts_demo import alarm
from infra.local.alerts_demo import demo as alerts_demo
from infra.local.consoles.slack import SlackConsole, Thread
from infra.local.consoles.teams import demo as teams_demo
from infra.local.slack_api import render_thread

DEMO_CHANNEL = "C0OPS"
CHANNEL_NAMES = {DEMO_CHANNEL: "ops"}

CHAT_HELP = """\
Type what you would type in Slack:
  /aws <anything>        a slash command (/aws help lists them)
  <question>             an @mention of the bot in the current thread (a follow-up continues it)
Console commands:
  :as <name>             speak as another demo user (alice, bob, carol, dave)
  :click <label>         click a button of the current thread (Approve, Deny, a follow-up, Investigate…)
  :alarm <account> <alarm> <ALARM|OK>   an alarm changes state (after `/aws subscribe production alarms here` as bob)
  :new                   start a new thread
  :quit                  stop
"""


def _print_step(who: str, said: str, thread: Thread, seconds: float, *, skip: int = 0) -> None:
    """Print what the thread shows now, leaving out its first ``skip`` messages (already printed)."""
    where = CHANNEL_NAMES.get(thread.channel, thread.channel)
    print(f"» {who} in #{where}: {said}    ({seconds:.1f} s)")
    if skip:
        print(f"  … {skip} earlier message(s) of this thread")
    shown = render_thread(thread.messages[skip:], ephemeral=thread.ephemeral)
    print("\n".join(f"  {line}" for line in shown.splitlines()))
    print(flush=True)


async def demo(info: org.StackInfo) -> int:
    """Play a short Slack session and print what Slack would show; 0 when every step answered."""
    console = SlackConsole.from_stack(info)
    failures = 0
    try:
        steps: list[tuple[str, str, str]] = [
            ("alice", "slash", "list buckets in staging"),
            ("alice", "mention", "how many lambda functions in production?"),
            ("alice", "slash", "list buckets in stagin"),
            ("alice", "slash", "run aws s3 mb s3://acme-staging-reports in staging"),
        ]
        thread: Thread | None = None
        for who, kind, text in steps:
            started = time.monotonic()
            try:
                if kind == "slash":
                    thread = await console.slash(who, text, DEMO_CHANNEL)
                    said = f"/aws {text}"
                else:
                    parent = await console.say(who, DEMO_CHANNEL, "Anyone know what runs in prod right now?")
                    thread = await console.mention(who, text, DEMO_CHANNEL, thread=parent)
                    said = f"@CentralOps {text} (in a thread)"
            except TimeoutError as e:
                failures += 1
                print(f"» {who}: {text}\n  no answer: {e}\n", flush=True)
                continue
            _print_step(who, said, thread, time.monotonic() - started)
        if thread is not None and any(
            e.get("text", {}).get("text") == "Approve" for _, e in thread.buttons()
        ):
            started = time.monotonic()
            try:
                approved = await console.click("bob", thread, "Approve")
                _print_step("bob", "clicks Approve", approved, time.monotonic() - started)
            except TimeoutError as e:
                failures += 1
                print(f"» bob clicks Approve\n  no answer: {e}\n", flush=True)
        failures += await alerts_demo(info, console, DEMO_CHANNEL)
    finally:
        await console.close()
    print("And the same bot in Microsoft Teams:\n", flush=True)
    try:
        for conversation in await teams_demo(info.bot_url, info.teams_connector_url):
            print("\n".join(f"  {line}" for line in conversation.render().splitlines()))
            print(flush=True)
    except TimeoutError as e:
        failures += 1
        print(f"  no answer in Teams: {e}\n", flush=True)
    print("That was the local stack: moto, the AWS MCP Server and Gateway stand-ins, the agent and the bot.")
    print("Try it yourself with `make chat`.")
    return 1 if failures else 0


async def chat(info: org.StackInfo) -> int:
    """Talk to the bot as a demo user until ``:quit`` or end of input."""
    console = SlackConsole.from_stack(info)
    who = "alice"
    thread: Thread | None = None
    shown: dict[str, int] = {}  # messages of each thread already printed
    print(CHAT_HELP)
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, input, f"{who}> ")
            line = line.strip()
            if not line:
                continue
            if line in {":quit", ":q", ":exit"}:
                return 0
            started = time.monotonic()
            try:
                if line.startswith(":as "):
                    name = line[4:].strip()
                    if name not in {p.slack_name for p in org.PEOPLE}:
                        print(
                            f"No demo user {name!r}; choose one of: {', '.join(p.slack_name for p in org.PEOPLE)}."
                        )
                    else:
                        who = name
                    continue
                if line == ":new":
                    thread = None
                    continue
                if line.startswith(":alarm "):
                    thread = await alarm(info, console, line[7:].split(), DEMO_CHANNEL)
                elif line.startswith(":click "):
                    if thread is None:
                        print("There is no thread yet: ask something first.")
                        continue
                    thread = await console.click(who, thread, line[7:].strip())
                elif line.startswith("/aws"):
                    thread = await console.slash(who, line[4:].strip(), DEMO_CHANNEL)
                else:
                    thread = await console.mention(who, line, DEMO_CHANNEL, thread=thread)
            except (TimeoutError, LookupError) as e:
                print(f"No answer: {e}", file=sys.stderr)
                continue
            _print_step(who, line, thread, time.monotonic() - started, skip=shown.get(thread.ts or "", 0))
            shown[thread.ts or ""] = len(thread.messages)
    except EOFError:
        return 0
    finally:
        await console.close()
