"""cluster_storage: the bucket storage Gitpod keeps workspace content in (S3 or MinIO, or any
S3-compatible service) answers, the bucket exists, and optionally a probe object round-trips."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, NoReturn

from exporter import families, urllib3deadline, watchdog
from exporter.bounded import TooLarge, bounded_chunks, read_bounded
from exporter.checks.shared import client_timeout, within
from exporter.config import CheckSettings, OneOf, Secret
from exporter.context import Check, CheckContext, Derive
from exporter.gitpod import GITPOD_REQUIREMENTS_DOC
from exporter.installation import Derived, Installation, stated_origin
from exporter.model import (
    DependencyError,
    NotConfigured,
    Reason,
    Requirement,
    Result,
    Scope,
    Severity,
)

REQUIREMENT = Requirement(
    id="cluster_storage",
    title="Bucket storage (S3 or MinIO) reachable, bucket present",
    severity=Severity.CRITICAL,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    unreachable_fails=True,
    remedy="Check the storage endpoint, region, bucket name and access keys Gitpod uses, and "
    "that the keys may read and write the bucket.",
)

_AUTH_CODES = {"403", "Forbidden", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
_MISSING_CODES = {"404", "NoSuchBucket", "NotFound"}


@dataclass(frozen=True)
class Settings(CheckSettings):
    # Empty with an endpoint: the endpoint and keys are judged by listing the buckets (Gitpod
    # keeps one bucket per user when its config names none); empty without: not configured.
    bucket: str = ""
    endpoint: str = ""  # empty: AWS S3 for the region
    region: str = "us-east-1"
    access_key_id: Secret | None = None
    secret_access_key: Secret | None = None
    addressing_style: Annotated[str, OneOf(("auto", "path", "virtual"))] = "auto"
    ca_file: str = ""
    round_trip: bool = False
    prefix: str = "gitpod-requirements-exporter/"


# A bucket list of S3's 10,000-bucket quota is about 1.5 MiB of XML; every other answer read
# here is a few KiB.
_ANSWER_LIMIT = 8 << 20


class _BoundedRaw:
    """The urllib3 response botocore reads every non-streaming body from (its stream(), joined
    before parsing), capped in size and time while it arrives."""

    def __init__(self, raw: Any, deadline: float) -> None:
        self._raw = raw
        self._deadline = deadline

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        return bounded_chunks(self._raw.stream(*args, **kwargs), _ANSWER_LIMIT,
                              self._deadline, "S3")  # fmt: skip

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


def _bound_answers(client: Any, deadline: float, custom_endpoint: bool) -> None:
    # botocore's own session (its proxies, TLS and timeouts) still sends; its answer is wrapped.
    session = client._endpoint.http_session

    def send(request: Any, **_: Any) -> Any:
        # The session reads a non-streaming body whole before it returns: ask it for the stream,
        # and read it here through the bound.
        streamed, request.stream_output = request.stream_output, True
        response = session.send(request)
        response.raw = _BoundedRaw(response.raw, deadline)
        if not streamed:
            response.content  # noqa: B018 - read now, as the session would have
        return response

    client.meta.events.register("before-send.s3", send)
    # One deadline from connect to each answer's head (exporter/urllib3deadline.py): botocore
    # bounds each recv, so an endpoint dribbling its headers held the thread for good.
    session._pool_classes_by_scheme = urllib3deadline.noting(session._pool_classes_by_scheme)
    urllib3deadline.install(session._manager)
    if custom_endpoint:
        # botocore answers a 301/307 by asking the bucket's region of whatever the redirect
        # names, and, when that fails too, asks again (RecursionError). A MinIO or other custom
        # endpoint has no regions to find: its redirect is an answer to report, not to follow.
        def no_region_redirect(context: dict[str, Any], **_: Any) -> None:
            context.setdefault("s3_redirect", {})["redirected"] = True

        client.meta.events.register("before-call.s3", no_region_redirect)


def _operations(
    client: Any, s: Settings, deadline: float, timed: Any, latencies: dict[str, float]
) -> dict[str, float]:
    """The probe's S3 calls: the buckets, or the bucket, its listing and a round trip."""
    if not s.bucket:
        listing = timed("list_buckets", client.list_buckets)
        if not isinstance(listing.get("Buckets"), list):
            raise DependencyError(Reason.PROTOCOL, "the endpoint does not answer like S3 "
                                  "(no bucket list)")  # fmt: skip
        return latencies
    timed("head_bucket", client.head_bucket, Bucket=s.bucket)
    # HEAD proves little: any web server answers 200 to it. A listing must come back as
    # S3's XML naming the bucket. (Same permission as HeadBucket: s3:ListBucket.)
    listing = timed(
        "list_objects", client.list_objects_v2, Bucket=s.bucket, Prefix=s.prefix, MaxKeys=1
    )
    if listing.get("Name") != s.bucket:
        raise DependencyError(
            Reason.PROTOCOL, "the endpoint does not answer like S3 (no bucket listing)"
        )
    if s.round_trip:
        key = f"{s.prefix}probe-{uuid.uuid4().hex}"
        body = uuid.uuid4().bytes
        timed("put_object", client.put_object, Bucket=s.bucket, Key=key, Body=body)
        try:
            answer = timed("get_object", client.get_object, Bucket=s.bucket, Key=key)
            got = read_bounded(answer["Body"].read, _ANSWER_LIMIT, deadline, "S3")
        finally:
            timed("delete_object", client.delete_object, Bucket=s.bucket, Key=key)
        if got != body:
            raise DependencyError(
                Reason.PROTOCOL, "the probe object read back differs from what was written"
            )
    return latencies


def _probe(s: Settings, key_id: str | None, secret: str | None, timeout: float) -> dict[str, float]:
    import boto3  # lazily: the node role never loads it
    import botocore.config

    client = boto3.session.Session().client(
        "s3",
        endpoint_url=s.endpoint or None,
        region_name=s.region,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        verify=s.ca_file or True,
        config=botocore.config.Config(
            connect_timeout=timeout,
            read_timeout=timeout,
            # One attempt: botocore reads max_attempts as retries (two connections, each the
            # whole share); total_max_attempts counts the first one.
            retries={"total_max_attempts": 1, "mode": "standard"},
            s3={"addressing_style": s.addressing_style},
        ),
    )
    deadline = time.monotonic() + timeout
    _bound_answers(client, deadline, bool(s.endpoint))
    latencies: dict[str, float] = {}

    def timed(op: str, fn: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        out = fn(**kwargs)
        latencies[op] = time.perf_counter() - started
        return out

    cut = watchdog.Cut()
    late = DependencyError(Reason.TIMEOUT, f"S3: no answer within {timeout:g}s")
    try:
        with urllib3deadline.deadline(cut, timeout):
            _operations(client, s, deadline, timed, latencies)
    except Exception as exc:
        if cut.fired and not isinstance(exc, DependencyError | _Missing):
            raise late from None
        _failed(exc, s)
    if cut.fired:  # the shutdown ends an answer's head as a closed connection would
        raise late
    return latencies


def _failed(exc: Exception, s: Settings) -> NoReturn:
    """Raises the DependencyError (or _Missing) a client exception stands for, else `exc`."""
    import botocore.exceptions as bx

    if isinstance(exc, bx.ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _MISSING_CODES:
            raise _Missing(f"bucket {s.bucket} not found") from None
        reason = Reason.AUTH if code in _AUTH_CODES else Reason.PROTOCOL
        raise DependencyError(reason, f"S3 error {code}: {exc}") from None
    mapped = [
        (bx.SSLError, Reason.TLS, "TLS: "),
        ((bx.ConnectTimeoutError, bx.ReadTimeoutError), Reason.TIMEOUT, ""),
        (bx.EndpointConnectionError, Reason.CONNECT, ""),
        (bx.NoCredentialsError, Reason.AUTH, ""),
        (bx.BotoCoreError, Reason.PROTOCOL, ""),
        (TooLarge, Reason.PROTOCOL, ""),
        (TimeoutError, Reason.TIMEOUT, ""),
    ]
    for types, reason, prefix in mapped:
        if isinstance(exc, types):
            if isinstance(exc, bx.NoCredentialsError):
                raise DependencyError(reason, "no credentials configured or found") from None
            raise DependencyError(reason, f"{prefix}{exc}") from None
    raise exc


class _Missing(Exception):
    pass


async def run(ctx: CheckContext[Settings]) -> Result:
    s = ctx.settings
    if not s.bucket and not s.endpoint:
        raise NotConfigured("no bucket or endpoint configured")
    key_id = s.access_key_id.read() if s.access_key_id else None
    secret = s.secret_access_key.read() if s.secret_access_key else None
    try:
        latencies = await within(
            ctx.blocking(_probe, s, key_id, secret, client_timeout(s.timeout)), s.timeout, "S3"
        )
    except _Missing as exc:
        return Result.failed(Reason.NOT_FOUND, "absent", str(exc))
    samples = [families.STORAGE_LATENCY_SECONDS.sample(took, op) for op, took in latencies.items()]
    if not s.bucket:
        return Result.passed("buckets listed", *samples, detail=f"{s.endpoint}: keys accepted")
    observed = "bucket present" + (", round trip ok" if s.round_trip else "")
    return Result.passed(observed, *samples, detail=f"{s.endpoint or 'AWS S3'} bucket {s.bucket}")


# The settings that name its target: when the config file sets one, the installation is
# not consulted.
async def from_installation(inst: Installation, s: Settings, timeout: float) -> Derived:
    cfg, where = await inst.stated(timeout)
    if cfg.storage == "in_cluster":
        host, port = inst.service("minio", 9000)
        values = {
            "endpoint": f"http://{host}:{port}",
            "region": "local",
            "bucket": "",
            "addressing_style": "path",
            "access_key_id": await inst.secret_value("minio", "root-user", timeout),
            "secret_access_key": await inst.secret_value("minio", "root-password", timeout),
        }
        return values, stated_origin(where, "objectStorage.inCluster, Service minio, Secret minio")
    if cfg.storage == "s3":
        endpoint = cfg.storage_endpoint
        if endpoint and "://" not in endpoint:
            endpoint = ("http://" if cfg.storage_insecure else "https://") + endpoint
        name = cfg.storage_secret
        values = {
            "endpoint": endpoint,
            "bucket": cfg.storage_bucket,
            "region": cfg.region,
            "access_key_id": await inst.secret_value(name, "accessKeyId", timeout),
            "secret_access_key": await inst.secret_value(name, "secretAccessKey", timeout),
        }
        return values, stated_origin(where, f"objectStorage.s3, Secret {name}")
    raise NotConfigured(f"the installation uses {cfg.storage} object storage, which "
                        "cluster_storage (S3 and MinIO) does not judge")  # fmt: skip


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    installation=Derive(from_installation, frozenset({"bucket", "endpoint"})),
)
