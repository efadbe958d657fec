"""The demo and the interactive console, both through the real bot.

Everything goes the production way: signed Slack requests into Bolt, the bot's
Web API calls into the stand-in, the thread read back and printed as Slack
would show it.
"""

import asyncio
import sys
import time
from typing import Any

from infra.local import org
from infra.local.alerts_demo import alarm
from infra.local.alerts_demo import demo as alerts_demo
from infra.local.consoles import teams_chat
from infra.local.consoles.slack import SlackConsole, Thread
from infra.local.consoles.teams import TeamsConsole, TeamsTurnTooSlow
from infra.local.consoles.teams import demo as teams_demo
from infra.local.slack_api import render_thread

DEMO_CHANNEL = "C0OPS"
CHANNEL_NAMES = {DEMO_CHANNEL: "ops"}

CHAT_HELP = (
    """\
Type what you would type in Slack:
  /aws <anything>        a slash command (/aws help lists them)
  <question>             an @mention of the bot in the current thread (a follow-up continues it)
Console commands:
  :as <name>             speak as another demo user (alice, bob, carol, dave)
  :click <label>         click a button of the current thread (Approve, Deny, a follow-up, Investigate…)
  :reply <text>          reply in the current thread without an @mention (an alert's thread answers)
  :alarm <account> <alarm> <ALARM|OK>   an alarm changes state (after `/aws subscribe production alarms here` as bob)
  :good | :bad           thumbs up / down on the newest answer of the current thread
  :assistant             open the assistant view (while viewing #ops); what you type next goes there
  :home                  show your App Home tab
  :new                   start a new thread
  :quit                  stop
"""
    + teams_chat.HELP
)


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
    failures += await _assistant_demo(info)
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


async def _assistant_demo(info: org.StackInfo) -> int:
    """Slack's assistant view: prompts for the channel being viewed, then an answer with task cards."""
    console = SlackConsole.from_stack(info)
    try:
        started = time.monotonic()
        ts = await console.assistant_thread("alice", viewing=DEMO_CHANNEL)
        offered: dict[str, Any] = {}
        for _ in range(100):
            offered = (await console.assistant()).get(f"D0ALICE:{ts}", {})
            if offered.get("prompts"):
                break
            await asyncio.sleep(0.1)
        prompts: list[dict[str, str]] = offered.get("prompts") or []
        print(
            f"» alice opens the CentralOps assistant while viewing #ops    ({time.monotonic() - started:.1f} s)"
        )
        print(
            f"  {offered.get('prompts_title') or 'Suggested'}: "
            + " · ".join(str(p["title"]) for p in prompts)
        )
        question = prompts[0]["message"] if prompts else "list buckets in staging"
        started = time.monotonic()
        thread = await console.assistant_ask("alice", ts, question)
        _print_step("alice", f"{question} (in the assistant thread)", thread, time.monotonic() - started)
        state = (await console.assistant()).get(f"D0ALICE:{ts}", {})
        print(
            f"  thread title: {state.get('title')!r}; loading states shown: {state.get('statuses')}\n",
            flush=True,
        )
        return 0
    except TimeoutError as e:
        print(f"» the assistant did not answer: {e}\n", flush=True)
        return 1
    finally:
        await console.close()


async def chat(info: org.StackInfo) -> int:
    """Talk to the bot as a demo user until ``:quit`` or end of input."""
    console = SlackConsole.from_stack(info)
    teams = teams_chat.TeamsChat(TeamsConsole(info.bot_url, info.teams_connector_url))
    on_teams = False  # whether the newest question was asked in Teams (:good, :bad and :stop act there)
    who = "alice"
    thread: Thread | None = None
    assistant: str | None = None  # the assistant thread's ts, once opened
    shown: dict[str, int] = {}  # messages of each thread already printed
    print(CHAT_HELP)
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = await loop.run_in_executor(None, input, f"{who}> ")
            line = line.strip()
            if teams.writing and line != ":stop":
                try:
                    print(await teams.finish())  # the Teams answer still being written comes first
                except TimeoutError as e:
                    print(f"No answer in Teams: {e}", file=sys.stderr)
            if not line:
                continue
            if line in {":quit", ":q", ":exit"}:
                return 0
            started = time.monotonic()
            try:
                teams_line = line.partition(" ")[0] in {":teams", ":teams-channel"} or (
                    on_teams and line in {":good", ":bad", ":stop"}
                )
                if teams_line:
                    on_teams = True
                    print(await _teams_line(teams, who, line))
                    continue
                if line == ":stop":
                    print("Nothing to stop here: :stop acts on a Teams answer; in Slack, :click Stop.")
                    continue
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
                    thread, assistant = None, None
                    continue
                if line == ":assistant":
                    assistant = await console.assistant_thread(who, viewing=DEMO_CHANNEL)
                    await asyncio.sleep(0.5)
                    offered = (await console.assistant()).get(
                        f"D{org.person(who).slack_user_id[1:]}:{assistant}", {}
                    )
                    titles = [p["title"] for p in offered.get("prompts") or []]
                    print(
                        f"Assistant open. {offered.get('prompts_title') or 'Suggested'}: "
                        + " · ".join(titles)
                    )
                    continue
                if line == ":home":
                    view = await console.open_home(who)
                    print(render_thread([{"bot_id": "B", "blocks": view["blocks"], "text": ""}]))
                    continue
                if line in {":good", ":bad"}:
                    if thread is None:
                        print("There is no answer yet: ask something first.")
                        continue
                    await console.rate(who, thread, positive=line == ":good")
                    print("Feedback sent.")
                    continue
                on_teams = False  # a Slack question: :good and :bad act on its thread again
                if assistant is not None and not line.startswith(("/aws", ":click")):
                    thread = await console.assistant_ask(who, assistant, line)
                    _print_step(
                        who, line, thread, time.monotonic() - started, skip=shown.get(thread.ts or "", 0)
                    )
                    shown[thread.ts or ""] = len(thread.messages)
                    continue
                if line.startswith(":alarm "):
                    thread = await alarm(info, console, line[7:].split(), DEMO_CHANNEL)
                elif line.startswith(":click "):
                    if thread is None:
                        print("There is no thread yet: ask something first.")
                        continue
                    thread = await console.click(who, thread, line[7:].strip())
                elif line.startswith(":reply "):
                    if thread is None or not thread.ts:
                        print("There is no thread yet: ask something first.")
                        continue
                    thread = await console.reply(who, line[7:].strip(), thread, DEMO_CHANNEL)
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
        await teams.console.close()


async def _teams_line(teams: teams_chat.TeamsChat, who: str, line: str) -> str:
    """One Teams line of ``make chat``: what Teams shows after it."""
    command, _, text = line.partition(" ")
    try:
        if command in {":teams", ":teams-channel"}:
            if not text.strip():
                return f"Say what to ask, e.g. `{command} list buckets in staging`."
            return await teams.ask(who, text.strip(), channel=command == ":teams-channel")
        if command == ":stop":
            return await teams.stop(who)
        return await teams.rate(who, positive=command == ":good")
    except ValueError as e:  # a demo person without a Teams identity
        return f"{e}; in Teams, speak as alice, bob or carol (:as)."
    except TeamsTurnTooSlow as e:
        return str(e)
