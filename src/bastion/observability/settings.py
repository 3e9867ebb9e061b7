"""The ``observability:`` section of the config: metrics, access logs, traces, live feed, hub.

Only the schema lives here (pydantic, frozen); :mod:`bastion.observability.runtime`
builds the enabled parts from it at start-up. Every part is cheap when on and
costs nothing when off: a part that is off is not built, so no finisher runs for it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr

_FROZEN = ConfigDict(frozen=True, extra="forbid")
# Where several workers keep their metrics (prometheus-client's multiprocess mode).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Attribution labels a metric may carry. team and app are bounded by what admins create;
# user and key can be many, so they are off unless listed.
AttributionLabel = Literal["org", "team", "app", "user", "key"]
MetricsAuth = Literal["open", "viewer", "admin"]


class MetricsConfig(BaseModel):
    """Prometheus ``/metrics``."""

    model_config = _FROZEN
    enabled: bool = True
    path: str = Field(default="/metrics", pattern=r"^/[A-Za-z0-9_\-/]*$")
    # Who may scrape (a bearer key, as for the hub): "open", anyone (the default, as
    # Prometheus scrapers and peers expect; keep the port on a trusted network); "viewer",
    # a key with the viewer or admin role that sees the whole gateway (the master key
    # too); "admin", the master key or a global admin key.
    auth: MetricsAuth = "open"
    # A static bearer token a scraper may send instead of a key; with auth "open", setting
    # it makes it required.
    token: SecretStr | None = None
    labels: tuple[AttributionLabel, ...] = ("team", "app")
    # Past this many distinct values of one label, new values are counted as "other".
    max_label_values: int = Field(default=500, ge=1, le=100_000)


class AccessLogConfig(BaseModel):
    """One JSON line per request."""

    model_config = _FROZEN
    enabled: bool = False
    # "stdout", "stderr" or a file path (appended to).
    destination: str = Field(default="stdout", min_length=1)
    # Debugging only: the request body (as sent upstream) in each line. Never keys.
    include_bodies: bool = False
    flush_interval: float = Field(default=0.2, gt=0, le=60)
    max_pending: int = Field(default=100_000, ge=100, le=10_000_000)


class TracingConfig(BaseModel):
    """OpenTelemetry traces over OTLP/HTTP (protobuf: ``pip install 'bastion-gateway[otel]'``)."""

    model_config = _FROZEN
    enabled: bool = False
    # The collector's OTLP/HTTP traces URL; None: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or
    # OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, else http://localhost:4318/v1/traces.
    endpoint: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    # OTLP/HTTP's JSON encoding needs nothing installed; protobuf needs the otel extra.
    encoding: Literal["json", "protobuf"] = "json"
    service_name: str = Field(default="bastion", min_length=1)
    sample_ratio: float = Field(default=1.0, ge=0, le=1)
    # Spans are sent every this many seconds (sooner once 2,048 are waiting).
    export_interval: float = Field(default=1.0, gt=0, le=60)
    # Pass a traceparent to upstream providers (W3C trace context).
    propagate_upstream: bool = True


class HubConfig(BaseModel):
    """The monitoring hub at ``/ui`` and its live feed."""

    model_config = _FROZEN
    enabled: bool = True
    live_buffer: int = Field(default=500, ge=10, le=100_000)  # recent requests kept in memory
    live_subscribers: int = Field(default=32, ge=1, le=10_000)


class ObservabilityConfig(BaseModel):
    model_config = _FROZEN
    metrics: MetricsConfig = MetricsConfig()
    access_log: AccessLogConfig = AccessLogConfig()
    tracing: TracingConfig = TracingConfig()
    hub: HubConfig = HubConfig()
