"""cluster_database: Gitpod's MySQL answers, accepts its credentials and is 5.7 or newer."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from exporter import compat, families, httpcheck
from exporter.checks.shared import (
    VERSION,
    client_timeout,
    compatibility_of,
    compatibility_requirement,
    within,
)
from exporter.config import CheckSettings, Max, Min, Secret
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
from exporter.parse import ParseError, format_version, mysql_version, version_tuple

REQUIREMENT = Requirement(
    id="cluster_database",
    title="MySQL 5.7 or newer, reachable with Gitpod's credentials",
    severity=Severity.CRITICAL,
    scope=Scope.CLUSTER,
    doc_url=GITPOD_REQUIREMENTS_DOC,
    unreachable_fails=True,
    remedy="Check the database host, port, user and password Gitpod uses, its network path "
    "(security groups, Cloud SQL proxy) and that it runs MySQL >= 5.7.",
)

# MySQL client error codes (errmsg.h / mysqld_error.h) that mean something to an operator.
_ERRNO_REASON = {
    1045: Reason.AUTH,  # ER_ACCESS_DENIED_ERROR
    2059: Reason.AUTH,  # CR_AUTH_PLUGIN_CANNOT_LOAD: an auth switch refused or unknown
    1044: Reason.AUTH,  # ER_DBACCESS_DENIED_ERROR
    1049: Reason.NOT_FOUND,  # ER_BAD_DB_ERROR
    2003: Reason.CONNECT,  # CR_CONN_HOST_ERROR
    2005: Reason.CONNECT,  # CR_UNKNOWN_HOST
    2006: Reason.CONNECT,  # CR_SERVER_GONE_ERROR
    2013: Reason.TIMEOUT,  # CR_SERVER_LOST: no answer within read_timeout
    2026: Reason.TLS,  # CR_SSL_CONNECTION_ERROR
}


@dataclass(frozen=True)
class Settings(CheckSettings):
    host: str = ""  # empty: the check is not configured
    port: Annotated[int, Min(1), Max(65535)] = 3306
    user: str = "gitpod"
    password: Secret | None = None
    database: str = "gitpod"
    tls: bool = False
    ca_file: str = ""
    ca_pem: str = ""  # PEM text, as the installation's database.ssl.caCert Secret gives it
    min_version: Annotated[str, VERSION] = "5.7"
    # Gitpod documents MySQL; MariaDB is judged by this floor unless refused outright.
    allow_mariadb: bool = True
    min_mariadb_version: Annotated[str, VERSION] = "10.3"


class _CleartextRefused:
    """pymysql's handler for the auth switches that send the password as it is
    (mysql_clear_password, dialog): refused on a connection without TLS, where a server that
    asks for it would read the password off the wire, or echo it in its error."""

    def __init__(self, con: object) -> None:
        pass

    def authenticate(self, pkt: object) -> object:
        import pymysql

        raise pymysql.err.OperationalError(
            2059, "the server asked for the password in clear text without TLS: refused"
        )

    prompt = authenticate  # dialog's per-prompt hook


# An auth switch pymysql does not know is refused by pymysql itself.
_CLEARTEXT = {"mysql_clear_password": _CleartextRefused, "dialog": _CleartextRefused}


# The greeting, an auth switch, VERSION() and SELECT 1 are each under 1 KiB; pymysql itself
# joins continuation packets without end (an endless greeting grew to GiBs).
_PACKET_LIMIT = 1 << 20
_CR_MALFORMED_PACKET = 2027


def _bounded_connection(deadline: float) -> type:
    """pymysql's Connection reading each packet within _PACKET_LIMIT bytes, and every read
    before `deadline`: read_timeout bounds one recv, so a server dribbling a byte per
    read_timeout would otherwise hold the thread for ever."""
    import pymysql

    class Bounded(pymysql.connections.Connection):
        _packet_bytes = 0

        def _read_packet(self, *args: object, **kwargs: object) -> object:
            self._packet_bytes = 0
            return super()._read_packet(*args, **kwargs)  # type: ignore[no-untyped-call]

        def _read_bytes(self, num_bytes: int) -> bytes:
            # pymysql's private helpers, which its stubs leave out.
            conn: Any = self
            self._packet_bytes += num_bytes
            if self._packet_bytes > _PACKET_LIMIT:
                conn._force_close()
                raise pymysql.err.OperationalError(
                    _CR_MALFORMED_PACKET,
                    f"a packet over {_PACKET_LIMIT >> 20} MiB: refused",
                )
            chunks: list[bytes] = []
            wanted = num_bytes
            while wanted:
                if time.monotonic() > deadline:
                    conn._force_close()
                    raise pymysql.err.OperationalError(
                        2013, "the answer was still arriving at the deadline"
                    )
                try:
                    chunk = conn._rfile.read1(min(wanted, 65536))
                except OSError as exc:
                    conn._force_close()
                    raise pymysql.err.OperationalError(
                        2013, f"Lost connection to MySQL server during query ({exc})"
                    ) from None
                if not chunk:
                    conn._force_close()
                    raise pymysql.err.OperationalError(
                        2013, "Lost connection to MySQL server during query"
                    )
                chunks.append(chunk)
                wanted -= len(chunk)
            return b"".join(chunks)

    return Bounded


def _query(s: Settings, password: str, timeout: float) -> tuple[str, float]:
    import pymysql  # lazily: the node role never loads it

    ssl = None
    if s.tls:
        ssl = httpcheck.tls_context(s.ca_file, s.ca_pem)
    started = time.perf_counter()
    try:
        conn = _bounded_connection(time.monotonic() + timeout)(
            host=s.host,
            port=s.port,
            user=s.user,
            password=password,
            database=s.database or None,
            connect_timeout=timeout,
            read_timeout=timeout,
            write_timeout=timeout,
            ssl=ssl,
            auth_plugin_map={} if s.tls else _CLEARTEXT,
        )
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT VERSION()")
                (version,) = cur.fetchone()
                cur.execute("SELECT 1")
                cur.fetchone()
        finally:
            conn.close()
    except pymysql.err.MySQLError as exc:
        errno = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
        text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
        reason = _ERRNO_REASON.get(errno, Reason.PROTOCOL)
        if errno == 2003 and "timed out" in text:
            reason = Reason.TIMEOUT
        if "SSL" in text or "certificate" in text:
            reason = Reason.TLS
        raise DependencyError(reason, f"MySQL error {errno}: {text}") from None
    return str(version), time.perf_counter() - started


COMPATIBILITY = compatibility_requirement("database")


def requirements(settings: Settings) -> tuple[Requirement, ...]:
    return (REQUIREMENT, COMPATIBILITY)


async def run(ctx: CheckContext[Settings]) -> Mapping[str, Result | Exception]:
    """The floor (cluster_database), and the server against the compatibility matrix: one
    connection for both; unreachable, the matrix has nothing to judge (error, not fail)."""
    main = await _floor(ctx)
    flavor_version = next(
        (dict(s.labels) for s in main.samples if s.name == families.DATABASE_VERSION_INFO.name), {}
    )
    flavor, version = flavor_version.get("flavor", ""), flavor_version.get("version", "")
    compatibility = await compatibility_of(
        ctx, "database", lambda release: compat.database(flavor, version, release.rule("database"))
    )
    return {REQUIREMENT.id: main, COMPATIBILITY.id: compatibility}


async def _floor(ctx: CheckContext[Settings]) -> Result:
    s = ctx.settings
    if not s.host:
        raise NotConfigured("no database host configured")
    password = s.password.read() if s.password else ""
    # Leave the scheduler's timeout the last word: the client gives up a little earlier.
    version, latency = await within(
        ctx.blocking(_query, s, password, client_timeout(s.timeout)), s.timeout, "MySQL"
    )
    try:
        flavor, found = mysql_version(version)
    except ParseError:
        raise DependencyError(Reason.PARSE, f"unparsable server version {version!r}") from None
    samples = (
        families.DATABASE_VERSION_INFO.sample(1.0, version, flavor),
        families.DATABASE_LATENCY_SECONDS.sample(latency),
    )
    if flavor == "mariadb":
        if not s.allow_mariadb:
            return Result.failed(
                Reason.VERSION, version, "MariaDB is not allowed by the config", *samples
            )
        floor = version_tuple(s.min_mariadb_version)
        note = "Gitpod documents MySQL; MariaDB is judged by min_mariadb_version"
    else:
        floor = version_tuple(s.min_version)
        note = ""
    if found < floor:
        return Result.failed(
            Reason.VERSION,
            version,
            f"{flavor} {format_version(found)} is older than {format_version(floor)}",
            *samples,
        )
    return Result.passed(version, *samples, detail=note)


# The settings that name its target: when the config file sets one, the installation is
# not consulted.
async def from_installation(inst: Installation, s: Settings, timeout: float) -> Derived:
    cfg, where = await inst.stated(timeout)
    values: dict[str, Any] = {"database": "gitpod"}
    if cfg.database == "external":
        name = cfg.database_secret
        data = await inst.secret(name, timeout)
        port_text = data.get("port", b"3306").decode("utf-8", "replace").strip()
        values.update(
            host=await inst.secret_text(name, "host", timeout),
            # Held to Settings.port's range by with_derived, as the config file's port is.
            port=int(port_text) if port_text.isdigit() else port_text[:16],
            user=await inst.secret_text(name, "username", timeout),
            password=await inst.secret_value(name, "password", timeout),
        )
        what = f"database.external, Secret {name}"
    else:
        service, name = ("cloudsqlproxy", cfg.database_secret) if cfg.database == "cloudsql" \
            else ("db", "mysql")  # fmt: skip
        host, port = inst.service(service, 3306)
        values.update(
            host=host,
            port=port,
            user=await inst.secret_text(name, "username", timeout),
            password=await inst.secret_value(name, "password", timeout),
        )
        what = f"database.{'cloudSQL' if service == 'cloudsqlproxy' else 'inCluster'}, " \
            f"Service {service}, Secret {name}"  # fmt: skip
    if cfg.database_ca_secret:
        values.update(tls=True, ca_pem=await inst.secret_text(cfg.database_ca_secret, "ca.crt",
                                                               timeout))  # fmt: skip
        what += f", CA from Secret {cfg.database_ca_secret}"
    return values, stated_origin(where, what)


CHECK = Check(
    requirement=REQUIREMENT,
    settings=Settings,
    run=run,
    requirements=requirements,
    installation=Derive(from_installation, frozenset({"host"})),
)
