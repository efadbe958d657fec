"""One trace per chat question: spans, and their W3C ``traceparent`` across the hops.

The bot opens a span per answer and sends ``traceparent`` to the Runtime; the
agent continues it (Strands' own agent, model and tool spans nest inside, and
Strands carries the context to the Gateway in the MCP request's ``_meta``); the
Gateway and the bridge continue it from there. Locally every process appends
its finished spans to one JSON-lines file (``CENTRALOPS_TRACE_FILE``, set by the
local stack) and ``make trace`` prints the last question as a tree.

Everything here is a no-op when no tracer provider is set up or OpenTelemetry is
not installed, so a deployable never fails for want of tracing.
"""

import json
import os
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from centralops.settings import OTLP_TRACES_ENDPOINT, TRACE_FILE

TRACER = "centralops"
# A span's own service, where one process hosts another's code (the local Gateway runs the bridge).
SERVICE_ATTRIBUTE = "centralops.service"


class JsonLinesExporter:
    """Appends each finished span to a file, one JSON object per line (one ``write`` per span)."""

    def __init__(self, path: Path, service: str) -> None:
        self.path = path
        self.service = service
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def export(self, spans: Any) -> Any:
        """Write ``spans``; the SDK's ``SpanExporter`` contract."""
        from opentelemetry.sdk.trace.export import SpanExportResult

        lines = []
        for span in spans:
            context = span.get_span_context()
            parent = span.parent
            lines.append(
                json.dumps(
                    {
                        "trace_id": f"{context.trace_id:032x}",
                        "span_id": f"{context.span_id:016x}",
                        "parent_id": f"{parent.span_id:016x}" if parent else None,
                        "name": span.name,
                        "service": str(
                            (span.attributes or {}).get(SERVICE_ATTRIBUTE)
                            or span.resource.attributes.get("service.name", self.service)
                        ),
                        "start_ns": span.start_time,
                        "end_ns": span.end_time,
                        "attributes": {k: v for k, v in (span.attributes or {}).items() if _plain(v)},
                    },
                    default=str,
                )
            )
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write("".join(line + "\n" for line in lines))
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        """Nothing to release."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Spans are written as they end."""
        return True


def _plain(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and (not isinstance(value, str) or len(value) <= 200)


def setup(service: str, path: str | None = None) -> bool:
    """Send this process's spans to the trace file, or as OTLP to a collector, when either is configured.

    Args:
        service: ``bot``, ``agent``, ``gateway`` or ``bridge``: the spans' ``service.name``.
        path: The file; ``CENTRALOPS_TRACE_FILE`` when omitted.

    Without a file, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` (OpenTelemetry's own setting) sends
    the spans over OTLP/HTTP in batches: in AWS, to the ADOT collector beside the bot
    (``docs/observability.md``).

    Returns:
        Whether tracing was set up.
    """
    path = path or os.environ.get(TRACE_FILE)
    endpoint = os.environ.get(OTLP_TRACES_ENDPOINT)
    if not path and not endpoint:
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    except ImportError:
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if path:
        provider.add_span_processor(SimpleSpanProcessor(JsonLinesExporter(Path(path), service)))  # type: ignore[arg-type]
    else:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            return False
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    return True


@contextmanager
def span(
    name: str, carrier: Mapping[str, str] | None = None, *, service: str | None = None, **attributes: Any
) -> Iterator[None]:
    """A span around the block, continuing the trace in ``carrier``'s ``traceparent`` when given.

    Args:
        name: The span's name.
        carrier: Incoming headers or MCP ``_meta`` holding ``traceparent``; the current context when omitted.
        service: The span's own service, when it differs from the process's.
        **attributes: Plain attributes of the span.
    """
    try:
        from opentelemetry import propagate, trace
    except ImportError:
        yield
        return
    parent = propagate.extract(dict(carrier)) if carrier is not None else None
    attrs = {k: v for k, v in attributes.items() if _plain(v)}
    if service:
        attrs[SERVICE_ATTRIBUTE] = service
    with trace.get_tracer(TRACER).start_as_current_span(name, context=parent, attributes=attrs):
        yield


def headers() -> dict[str, str]:
    """``traceparent`` (and ``tracestate``) of the current span, for an outgoing request; empty when none."""
    try:
        from opentelemetry import propagate
    except ImportError:
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def record(name: str, start_ns: int, end_ns: int, *, service: str | None = None, **attributes: Any) -> None:
    """A finished child span of the current one, timed by the caller (work measured elsewhere)."""
    try:
        from opentelemetry import trace
    except ImportError:
        return
    attrs = {k: v for k, v in attributes.items() if _plain(v)}
    if service:
        attrs[SERVICE_ATTRIBUTE] = service
    child = trace.get_tracer(TRACER).start_span(name, start_time=start_ns, attributes=attrs)
    child.end(end_time=end_ns)


def current_trace_id() -> str | None:
    """The current trace id as 32 hex digits, or ``None`` outside a recorded span."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None
