"""The bot's consumer of the alerts queue: at least once in, idempotent posting out.

EventBridge delivers each event from the central bus to an SQS queue (the
event itself is the message body). The consumer long-polls it and, per message:

- not an EventBridge event (a poison message) → copied to the dead-letter queue
  with the reason, deleted from the queue, the consumer goes on;
- from an account that is not registered (or is disabled) → refused the same
  way: dead-letter queue with the reason, logged;
- otherwise routed (:class:`~bot.alerts.router.AlertRouter`) and deleted once
  every subscribed channel shows it. A failure (chat platform, DynamoDB) leaves
  the message on the queue: it comes back after its visibility timeout, and
  after the queue's ``maxReceiveCount`` SQS itself moves it to the dead-letter
  queue. A restart loses nothing for the same reason; channels that already
  show an event ignore its redelivery.
"""

import asyncio
import contextlib
import logging
import time
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from bot.accounts import AccountDirectory
from bot.alerts.events import NotAnEvent, parse_message
from bot.alerts.router import AlertRouter
from centralops.accounts import AccountItem
from centralops.errors import CentralOpsError

logger = logging.getLogger(__name__)

RETRY_VISIBILITY_S = 30
REGISTRY_TTL_S = 30.0


class AlertConsumer:
    """Long-polls the alerts queue and hands each event to the router.

    Args:
        router: Delivers alerts to channels.
        accounts: The registry: only events of registered, enabled accounts are shown.
        queue_url: The alerts queue.
        dead_letter_url: The dead-letter queue (refused and poison messages are copied there).
        sqs: A boto3 SQS client; created lazily when omitted.
        region: Region of the lazily created client.
        endpoint_url: Endpoint override (the local moto server).
        wait_s: Long-poll wait of one receive.
        concurrency: Messages handled at once.
    """

    def __init__(
        self,
        router: AlertRouter,
        accounts: AccountDirectory,
        *,
        queue_url: str,
        dead_letter_url: str | None,
        sqs: Any = None,
        region: str = "us-east-1",
        endpoint_url: str | None = None,
        wait_s: int = 10,
        concurrency: int = 20,
    ) -> None:
        self.router = router
        self.accounts = accounts
        self.queue_url = queue_url
        self.dead_letter_url = dead_letter_url
        self._sqs = sqs
        self._region = region
        self._endpoint_url = endpoint_url
        self.wait_s = wait_s
        self._slots = asyncio.Semaphore(concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._registry: tuple[float, dict[str, AccountItem]] | None = None
        self._stopping = False
        self.outcomes: dict[str, int] = {}
        self.retry_visibility_s = RETRY_VISIBILITY_S

    @property
    def sqs(self) -> Any:
        """The boto3 SQS client."""
        if self._sqs is None:
            self._sqs = boto3.session.Session().client(
                "sqs", region_name=self._region, endpoint_url=self._endpoint_url
            )
        return self._sqs

    async def run(self) -> None:
        """Consume until :meth:`stop`; a failing receive is logged and retried after a pause."""
        logger.info("alerts consumer started", extra={"queue": self.queue_url})
        while not self._stopping:
            try:
                messages = await self.receive()
            except (BotoCoreError, ClientError) as e:
                logger.warning("alerts queue not readable", extra={"error": type(e).__name__})
                await asyncio.sleep(5)
                continue
            for message in messages:
                await self._slots.acquire()
                task = asyncio.create_task(self._handle_released(message))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """Stop receiving; messages in flight finish or return to the queue by themselves."""
        self._stopping = True
        for task in list(self._tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def receive(self) -> list[dict[str, Any]]:
        """One long poll."""
        got = await asyncio.to_thread(
            self.sqs.receive_message,
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=self.wait_s,
            AttributeNames=["ApproximateReceiveCount"],
        )
        return list(got.get("Messages", []))

    async def _handle_released(self, message: dict[str, Any]) -> None:
        try:
            await self.handle(message)
        finally:
            self._slots.release()

    async def drain(self) -> int:
        """Receive and handle until the queue gives nothing (tests and the demo); messages handled."""
        handled = 0
        while True:
            messages = await self.receive()
            if not messages:
                return handled
            await asyncio.gather(*(self.handle(m) for m in messages))
            handled += len(messages)

    async def handle(self, message: dict[str, Any]) -> str:
        """Handle one SQS message; the outcome (``delivered``, ``unsubscribed``, ``refused``, ``poison``, ``retry``)."""
        outcome = await self._outcome(message)
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        return outcome

    async def _outcome(self, message: dict[str, Any]) -> str:
        receipt = message.get("ReceiptHandle", "")
        try:
            alert = parse_message(message.get("Body", ""))
        except NotAnEvent as e:
            logger.warning("poison message sent to the dead-letter queue", extra={"reason": str(e)})
            await self._dead_letter(message, f"not an EventBridge event: {e}")
            return "poison"
        log = {"event_id": alert.event_id, "account_id": alert.account_id, "kind": alert.kind}
        try:
            account = await self._account(alert.account_id)
            if account is None:
                logger.warning("event of an unregistered or disabled account refused", extra=log)
                await self._dead_letter(message, "the account is not registered with CentralOps, or disabled")
                return "refused"
            reached = await self.router.deliver(alert, account)
        except CentralOpsError as e:
            logger.warning("alert not delivered; it stays on the queue", extra={**log, "code": e.code})
            await self._later(receipt)
            return "retry"
        except Exception:
            logger.exception("alert not delivered; it stays on the queue", extra=log)
            await self._later(receipt)
            return "retry"
        await self._delete(receipt)
        logger.info("alert delivered", extra={**log, "channels": reached})
        return "delivered" if reached else "unsubscribed"

    async def _account(self, account_id: str) -> AccountItem | None:
        now = time.monotonic()
        if (
            self._registry is None
            or now - self._registry[0] > REGISTRY_TTL_S
            or account_id not in self._registry[1]
        ):
            self._registry = (now, {a.account_id: a for a in await self.accounts.all()})
        account = self._registry[1].get(account_id)
        return account if account is not None and account.enabled else None

    async def _dead_letter(self, message: dict[str, Any], reason: str) -> None:
        """Copy to the dead-letter queue with the reason, then delete (a failure leaves it for SQS's redrive)."""
        try:
            if self.dead_letter_url:
                await asyncio.to_thread(
                    self.sqs.send_message,
                    QueueUrl=self.dead_letter_url,
                    MessageBody=str(message.get("Body", ""))[:256_000] or "(empty)",
                    MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1000]}},
                )
            else:
                return  # no dead-letter queue configured: SQS's redrive policy moves it after its retries
        except (BotoCoreError, ClientError) as e:
            logger.warning("dead-letter copy failed; the queue will retry", extra={"error": type(e).__name__})
            return
        await self._delete(str(message.get("ReceiptHandle", "")))

    async def _delete(self, receipt: str) -> None:
        try:
            await asyncio.to_thread(self.sqs.delete_message, QueueUrl=self.queue_url, ReceiptHandle=receipt)
        except (BotoCoreError, ClientError) as e:
            # Redelivered later; every channel ignores an event it already shows.
            logger.warning("alert message not deleted", extra={"error": type(e).__name__})

    async def _later(self, receipt: str) -> None:
        with contextlib.suppress(BotoCoreError, ClientError):
            await asyncio.to_thread(
                self.sqs.change_message_visibility,
                QueueUrl=self.queue_url,
                ReceiptHandle=receipt,
                VisibilityTimeout=self.retry_visibility_s,
            )
