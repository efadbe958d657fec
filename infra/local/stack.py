"""Start, health-check and stop the whole local stack.

One supervisor, used the same way by ``python -m infra.local`` and by the
test suite: moto in server mode (seeded), the AWS MCP Server, Gateway, Slack
Web API and Cognito hosted-UI stand-ins, the agent and the bot, each its own
process on 127.0.0.1, logging to ``<root>/logs/<name>.log``.
"""

import contextlib
import importlib.util
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import IO, Self

import httpx

from centralops import settings
from centralops.errors import CentralOpsError
from infra.local import events as local_events
from infra.local import faults, org, seed
from infra.local.payload_checks import CHECKS_FILE_ENV

logger = logging.getLogger("centralops.local")

REQUIRED_MODULES = ("moto", "awscli", "strands", "bedrock_agentcore", "slack_bolt", "mcp", "uvicorn")
HEALTH_TIMEOUT_S = 60.0


class StackError(CentralOpsError):
    """The local stack could not start; the message says what to do."""

    code = "local_stack"


@dataclass(frozen=True)
class ProcessSpec:
    """One process of the stack: its log name, its ``python`` arguments and the URL that answers 200 when ready."""

    name: str
    args: tuple[str, ...]
    health_url: str


@dataclass(frozen=True)
class Ports:
    """Loopback ports of the stack's processes."""

    moto: int = 5100
    aws_mcp: int = 5101
    gateway: int = 5102
    slack_api: int = 5103
    hosted_ui: int = 5104
    teams_connector: int = 5105
    agent: int = 8080
    bot: int = 3000

    @classmethod
    def free(cls) -> Self:
        """Ports the operating system says are free now (for tests and benchmarks)."""
        socks = []
        try:
            for _ in fields(cls):
                s = socket.socket()
                s.bind(("127.0.0.1", 0))
                socks.append(s)
            return cls(*(s.getsockname()[1] for s in socks))
        finally:
            for s in socks:
                s.close()


@dataclass
class Process:
    """One running process of the stack."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    health_url: str


def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class LocalStack:
    """The whole CentralOps chain on loopback.

    Args:
        root: Folder for logs and ``stack.json`` (``.local`` for people, a temporary folder in tests).
        ports: Where each process listens.
        model: The agent's model provider (``offline`` is the deterministic planner).
        env: Extra environment for every process (tests use it to switch features).
    """

    def __init__(
        self,
        root: Path,
        ports: Ports | None = None,
        *,
        model: str = "offline",
        env: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.ports = ports or Ports()
        self.model = model
        self.extra_env = env or {}
        self.processes: list[Process] = []
        self.info: org.StackInfo | None = None

    def __enter__(self) -> org.StackInfo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @staticmethod
    def url(port: int) -> str:
        """``http://127.0.0.1:<port>``."""
        return f"http://127.0.0.1:{port}"

    def preflight(self) -> None:
        """Fail early, with what to do, on a missing dependency or a busy port."""
        missing = [m for m in REQUIRED_MODULES if importlib.util.find_spec(m) is None]
        if missing:
            raise StackError(
                f"Missing Python packages: {', '.join(missing)}. Run `make demo` (it installs them) "
                "or `make venv` (both install from uv.lock)."
            )
        busy = {f.name: getattr(self.ports, f.name) for f in fields(self.ports)}
        busy = {name: port for name, port in busy.items() if _port_in_use(port)}
        if busy:
            listing = ", ".join(f"{port} ({name})" for name, port in busy.items())
            raise StackError(
                f"Port(s) already in use: {listing}. Another local stack may be running: stop it "
                "(Ctrl-C in its terminal), or free the port(s) and try again."
            )

    def start(self) -> org.StackInfo:
        """Start every process, seed moto, wait until all are healthy; return what clients need."""
        self.preflight()
        (self.root / "logs").mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            moto_url = self.url(self.ports.moto)
            self._spawn(
                "moto",
                ["-m", "infra.local.moto_server", "-H", "127.0.0.1", "-p", str(self.ports.moto)],
                f"{moto_url}/moto-api/",
                env=self._base_env(),
            )
            self._wait_healthy(self.processes[-1:])
            bot_url = self.url(self.ports.bot)
            seeded = seed.seed(moto_url, callback_url=f"{bot_url}/auth/callback")
            self.info = self._info(seeded)
            env = {**self._env(self.info), **local_events.wire(moto_url).env()}  # alerts: bus, queue, rules
            for spec in self._services(seeded):
                self._spawn(spec.name, list(spec.args), spec.health_url, env)
            self._wait_healthy(self.processes[1:])
        except BaseException:
            self.stop()
            raise
        (self.root / "stack.json").write_text(json.dumps(asdict(self.info), indent=2))
        logger.info("local stack started", extra={"seconds": round(time.monotonic() - started, 1)})
        return self.info

    def _services(self, seeded: seed.Seeded) -> list[ProcessSpec]:
        """The processes started once moto is seeded, in start order."""
        p, url = self.ports, self.url
        return [
            ProcessSpec(
                "aws-mcp",
                ("-m", "infra.local.aws_mcp", "--port", str(p.aws_mcp), "--aws-endpoint", url(p.moto)),
                f"{url(p.aws_mcp)}/health",
            ),
            ProcessSpec(
                "gateway", ("-m", "infra.local.gateway", "--port", str(p.gateway)), f"{url(p.gateway)}/health"
            ),
            ProcessSpec(
                "slack-api",
                ("-m", "infra.local.slack_api", "--port", str(p.slack_api)),
                f"{url(p.slack_api)}/health",
            ),
            ProcessSpec(
                "hosted-ui",
                (
                    *("-m", "infra.local.hosted_ui", "--port", str(p.hosted_ui), "--moto", url(p.moto)),
                    *("--pool", seeded.user_pool_id, "--client", seeded.client_id),
                ),
                f"{url(p.hosted_ui)}/health",
            ),
            ProcessSpec(
                "teams-connector",
                ("-m", "infra.local.teams_connector", "--port", str(p.teams_connector)),
                f"{url(p.teams_connector)}/health",
            ),
            ProcessSpec("agent", ("-m", "agent"), f"{url(p.agent)}/ping"),
            ProcessSpec("bot", ("-m", "bot"), f"{url(p.bot)}/health"),
        ]

    def stop(self) -> None:
        """Stop every process: SIGTERM, then SIGKILL after a grace period."""
        for proc in reversed(self.processes):
            if proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in self.processes:
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.popen.pid, signal.SIGKILL)
                proc.popen.wait()
        self.processes.clear()
        with contextlib.suppress(FileNotFoundError):
            (self.root / "stack.json").unlink()

    def freeze(self, name: str, seconds: float) -> threading.Timer:
        """Fault switch: stop one process (``moto``, ``gateway``...) for ``seconds``; see ``faults.freeze``."""
        (proc,) = [p for p in self.processes if p.name == name]
        return faults.freeze(proc.popen.pid, seconds)

    def log(self, name: str) -> Path:
        """The log file of one process."""
        return self.root / "logs" / f"{name}.log"

    def _info(self, seeded: seed.Seeded) -> org.StackInfo:
        p = self.ports
        return org.StackInfo(
            moto_url=self.url(p.moto),
            aws_mcp_url=f"{self.url(p.aws_mcp)}/mcp",
            gateway_url=f"{self.url(p.gateway)}/mcp",
            runtime_url=f"{self.url(p.agent)}/invocations",
            slack_api_url=f"{self.url(p.slack_api)}/api/",
            bot_url=self.url(p.bot),
            teams_connector_url=self.url(p.teams_connector),
            user_pool_id=seeded.user_pool_id,
            client_id=seeded.client_id,
            kms_key_id=seeded.kms_key_id,
            slack_signing_secret=secrets.token_hex(16),
            slack_bot_token="xoxb-" + secrets.token_hex(12),
            tables=seeded.tables,
            root=str(self.root),
            hosted_ui_url=self.url(p.hosted_ui),
            bot_client_id=seeded.exchange.bot.client_id,
            agent_client_id=seeded.exchange.agent.client_id,
            bot_client_secret_arn=seeded.exchange.bot.secret_arn,
            agent_client_secret_arn=seeded.exchange.agent.secret_arn,
        )

    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CENTRALOPS_", "SLACK_"))}
        env.update(
            AWS_ACCESS_KEY_ID="local",
            AWS_SECRET_ACCESS_KEY="local",  # noqa: S106 - moto accepts any secret
            AWS_REGION=org.REGION,
            AWS_DEFAULT_REGION=org.REGION,
            PYTHONUNBUFFERED="1",
            MOTO_ALLOW_NONEXISTENT_REGION="true",
        )
        if checks := os.environ.get(CHECKS_FILE_ENV):
            env[CHECKS_FILE_ENV] = checks  # the stand-ins report every payload they checked
        return env

    def _env(self, info: org.StackInfo) -> dict[str, str]:
        p = self.ports
        env = self._base_env()
        env.update(info.tables)
        env.update(
            {
                settings.AWS_ENDPOINT_URL: info.moto_url,
                settings.LOCAL_ENDPOINT_URL: info.moto_url,
                settings.TRACE_FILE: str((self.root / "traces" / "spans.jsonl").resolve()),
                settings.COGNITO_USER_POOL_ID: info.user_pool_id,
                settings.COGNITO_CLIENT_ID: info.client_id,
                settings.COGNITO_JWKS_URL: f"{info.moto_url}/{info.user_pool_id}/.well-known/jwks.json",
                settings.COGNITO_DOMAIN_URL: self.url(p.hosted_ui),
                settings.COGNITO_EXCHANGE_URL: self.url(p.hosted_ui),  # GetDerivedToken: moto lacks it
                settings.RUNTIME_AUDIENCE: org.RUNTIME_AUDIENCE,
                settings.GATEWAY_AUDIENCE: org.GATEWAY_AUDIENCE,
                # No client secrets here: as in AWS, the agent reads its own from Secrets Manager (and the
                # bot too; in AWS, ECS injects the bot's). Neither may read the other's.
                settings.BOT_CLIENT_ID: info.bot_client_id,
                settings.BOT_CLIENT_SECRET_ARN: info.bot_client_secret_arn,
                settings.AGENT_CLIENT_ID: info.agent_client_id,
                settings.AGENT_CLIENT_SECRET_ARN: info.agent_client_secret_arn,
                settings.GATEWAY_REQUIRED_ACTOR: info.agent_client_id,  # the interceptor admits only the agent
                settings.KMS_KEY_ID: info.kms_key_id,
                settings.GATEWAY_URL: info.gateway_url,
                settings.MODEL_PROVIDER: self.model,
                settings.RESULTS_BUCKET: org.RESULTS_BUCKET,
                settings.AGENT_PORT: str(p.agent),
                settings.AWS_MCP_URL: info.aws_mcp_url,
                settings.AWS_MCP_REGION: org.REGION,
                settings.RUNTIME_URL: info.runtime_url,
                settings.PUBLIC_URL: info.bot_url,
                settings.BOT_PORT: str(p.bot),
                settings.SLACK_BOT_TOKEN: info.slack_bot_token,
                settings.SLACK_SIGNING_SECRET: info.slack_signing_secret,
                settings.SLACK_API_URL: info.slack_api_url,
                settings.APPROVER_GROUP: org.APPROVER_GROUP,
                settings.ALERTS_ADMIN_GROUP: org.ALERTS_ADMIN_GROUP,
                settings.ALERTS_WAIT_S: "2",  # short long-polls: the local stack stops quickly
                settings.TEAMS_ANONYMOUS: "true",  # the local Connector stand-in signs nothing
                settings.LOG_FORMAT: "text",
            }
        )
        env.update(self.extra_env)
        return env

    def _spawn(self, name: str, args: list[str], health_url: str, env: dict[str, str]) -> None:
        log_path = self.log(name)
        log: IO[bytes] = log_path.open("wb")
        popen = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            [sys.executable, *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.processes.append(Process(name, popen, log_path, health_url))

    def _wait_healthy(self, procs: list[Process]) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT_S
        pending = list(procs)
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for proc in list(pending):
                    if proc.popen.poll() is not None:
                        raise StackError(
                            f"The {proc.name} process exited during start (code {proc.popen.returncode}). "
                            f"Its log, {proc.log_path}, ends with:\n{_tail(proc.log_path)}"
                        )
                    with contextlib.suppress(httpx.HTTPError):
                        if client.get(proc.health_url).status_code == 200:
                            pending.remove(proc)
                if pending and time.monotonic() > deadline:
                    names = ", ".join(p.name for p in pending)
                    raise StackError(
                        f"Not healthy after {HEALTH_TIMEOUT_S:.0f} s: {names}. "
                        f"See the logs in {self.root / 'logs'}."
                    )
                if pending:
                    time.sleep(0.1)
