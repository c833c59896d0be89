"""Command line: `serve` runs the daemon, `check` runs every check once."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import fnmatch
import logging
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from exporter import __version__, logs, report
from exporter.checks import ROLES
from exporter.config import ConfigError, parse_duration
from exporter.runtime import Loaded, Options, build, load, node_label, node_name
from exporter.scheduler import run_job

if TYPE_CHECKING:
    import ssl

    from exporter.webconfig import WebConfig

DEFAULT_PORT = 18110
DEFAULT_LISTEN = f"0.0.0.0:{DEFAULT_PORT}"
EXIT_OK, EXIT_UNMET, EXIT_USAGE = 0, 1, 2

log = logging.getLogger("exporter")


def _env(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name) or default


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gitpod-requirements-exporter",
        description="Checks the requirements of a self-hosted Gitpod installation, once (check) "
        "or continuously as a Prometheus exporter (serve).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="{serve,check,bundle,config}"
    )

    def common(p: argparse.ArgumentParser, role: bool = True) -> None:
        if role:
            p.add_argument(
                "--role",
                choices=sorted(ROLES),
                default=_env("GRE_ROLE"),
                required=_env("GRE_ROLE") is None,
                help="node: this host's facts (run as a DaemonSet); cluster: the cluster and "
                "Gitpod's components (one Deployment). Env: GRE_ROLE.",
            )
        p.add_argument(
            "--config",
            default=_env("GRE_CONFIG"),
            metavar="FILE",
            help="YAML config file; without one every setting has its default. Env: GRE_CONFIG.",
        )
        p.add_argument(
            "--host-root",
            default=_env("GRE_HOST_ROOT", "/"),
            metavar="DIR",
            help="where the node's filesystem is mounted; node checks read the host through it "
            "(default /, /host in the DaemonSet). Env: GRE_HOST_ROOT.",
        )
        p.add_argument(
            "--kubeconfig",
            default=_env("GRE_KUBECONFIG") or _env("KUBECONFIG"),
            metavar="FILE",
            help="kubeconfig for the Kubernetes API; without one the in-cluster service account "
            "is used. Env: GRE_KUBECONFIG, then KUBECONFIG.",
        )

        p.add_argument(
            "--log-format",
            choices=logs.FORMATS,
            default=_env("GRE_LOG_FORMAT", "logfmt"),
            help="logfmt (ts=... level=... msg=...), or json lines for log pipelines. Env: "
            "GRE_LOG_FORMAT.",
        )
        p.add_argument(
            "--gitpod-config",
            default=_env("GRE_GITPOD_CONFIG"),
            metavar="FILE",
            help="Gitpod's installer config (gitpod.config.yaml), for checking before install "
            "(the cluster role's components, the node role's containerd paths and "
            "fsShiftMethod); without it the installation's ConfigMap is read. Env: "
            "GRE_GITPOD_CONFIG.",
        )

    serve = sub.add_parser(
        "serve",
        help="run the exporter: checks on a schedule, /metrics",
        description="Run every check of the role on its own interval and serve the last "
        "results at /metrics (Prometheus), /healthz, /readyz and / (a report page). SIGHUP "
        "reloads the config; SIGTERM stops.",
    )
    common(serve)
    serve.add_argument(
        "--listen",
        default=_env("GRE_LISTEN", DEFAULT_LISTEN),
        metavar="HOST:PORT",
        help=f"address for /metrics, /healthz, /readyz and the report page (default "
        f"{DEFAULT_LISTEN}; port 0 picks a free one). Env: GRE_LISTEN.",
    )
    serve.add_argument(
        "--node-condition",
        action="store_true",
        default=_env("GRE_NODE_CONDITION") in ("1", "true"),
        help="node role: keep the GitpodRequirementsMet condition on this node (NODE_NAME) and "
        "an Event per change; needs patch on nodes/status and create on events. Env: "
        "GRE_NODE_CONDITION=true.",
    )
    serve.add_argument(
        "--node-condition-heartbeat",
        default=_env("GRE_NODE_CONDITION_HEARTBEAT", "5m"),
        metavar="DURATION",
        help="with --node-condition: rewrite an unchanged condition this often (default 5m). "
        "Env: GRE_NODE_CONDITION_HEARTBEAT.",
    )
    serve.add_argument(
        "--web-config",
        default=_env("GRE_WEB_CONFIG"),
        metavar="FILE",
        help="web config file in the exporter-toolkit format (as node_exporter's "
        "--web.config.file): tls_server_config and basic_auth_users protect every page. "
        "Env: GRE_WEB_CONFIG.",
    )
    check_help = (
        "run every check of the role once and report; exit 0 when every configured "
        "critical requirement is met, 1 when one is not (or its check errored), 2 when "
        "nothing could be judged or on a usage or config error; warnings never change the "
        "exit code"
    )
    check = sub.add_parser(
        "check", help=check_help, description=check_help[0].upper() + check_help[1:] + "."
    )
    common(check)
    check.add_argument(
        "--output",
        choices=["text", "json", "junit"],
        default=_env("GRE_OUTPUT", "text"),
        help="text: a readable report ending in its verdict; json: one object with a summary, "
        "for scripts; junit: JUnit XML, one testcase per requirement, for CI systems. Env: "
        "GRE_OUTPUT.",
    )
    check.add_argument(
        "--strict",
        action="store_true",
        default=_env("GRE_STRICT") in ("1", "true"),
        help="count skipped critical requirements as unmet (exit 1): a preflight that must "
        "judge everything. Env: GRE_STRICT=1.",
    )
    check.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="ID",
        help="judge only these requirements (ids or shell patterns such as 'cluster_*' or "
        "'cluster_node_label:*'; repeatable)",
    )
    check.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="ID",
        help="leave these requirements out (ids or patterns; repeatable)",
    )
    config = sub.add_parser(
        "config",
        help="validate a config file: every problem at once, else the effective config",
        description="config check FILE: validate FILE as `serve` and `check` would (every "
        "problem listed, exit 2), else print the effective config with every default filled in "
        "(secrets appear as where they are read from, never as values) and exit 0.",
    )
    config.add_argument("action", choices=["check"])
    config.add_argument("file", metavar="FILE")
    bundle = sub.add_parser(
        "bundle",
        help="a support bundle: the cluster report, each node's, the installer config "
        "redacted, Gitpod's pods and events; never a secret",
        description="Run the cluster checks once and write a gzip tar for support (README, "
        "'A support bundle'): cluster/report.json, nodes/<node>.json, gitpod/config.yaml "
        "(secret-looking values redacted), gitpod/pods.json, gitpod/events.json (the last "
        "hour), versions.json. Exits 0 once it is written, whatever the verdicts.",
    )
    common(bundle, role=False)
    bundle.set_defaults(role="cluster")
    bundle.add_argument("--output", required=True, metavar="FILE.tar.gz")
    bundle.add_argument("--node-service", default="gitpod-requirements-node", metavar="NAME",
                        help="the node role's Service (the chart's by default)")  # fmt: skip
    bundle.add_argument("--node-namespace", default="gitpod-requirements", metavar="NS",
                        help="its namespace (the chart's by default)")  # fmt: skip
    bundle.add_argument("--node-auth", default=_env("GRE_NODE_AUTH", ""), metavar="USER:PASS",
                        help="basic auth for the node pods' /report.json when their web config "
                        "asks for it. Env: GRE_NODE_AUTH.")  # fmt: skip
    return parser


def config_check(path: str) -> int:
    try:
        config = load(path).config
    except ConfigError as exc:
        print(f"gitpod-requirements-exporter: config error {path}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    effective = dataclasses.asdict(config)
    effective.pop("explicit", None)
    print(yaml.safe_dump(effective, sort_keys=False), end="")
    return EXIT_OK


def parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError("--listen", f"expected HOST:PORT, got {value!r}")
    return host.strip("[]") or "0.0.0.0", int(port)


# Client libraries whose DEBUG output is wire-level (request headers, signed URLs, frames):
# log_level debug is for the exporter's own decisions, not theirs.
QUIET_LIBRARIES = (
    "botocore",
    "boto3",
    "urllib3",
    "kubernetes",
    "aiohttp",
    "pymysql",
    "h2",
    "hpack",
    "dns",
    "asyncio",
    "s3transfer",
)


def setup_logging(level: str, fmt: str = "logfmt") -> None:
    logs.setup(level, fmt, QUIET_LIBRARIES)


def run() -> None:
    """The command's entry point: main(), then exit without joining the pool's threads (the
    interpreter would wait for one stuck in a blocking call before `check` could exit)."""
    from exporter import malloc

    malloc.tune()
    code = main()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "config":
        return config_check(args.file)
    try:
        loaded = load(args.config)  # a broken matrix file stops start-up too
        config = loaded.config
        if not Path(args.host_root).is_dir():
            raise ConfigError("--host-root", f"{args.host_root} is not a directory")
        listen = parse_listen(args.listen) if args.command == "serve" else None
        web, tls = None, None
        if args.command == "serve" and args.web_config:
            from exporter.webconfig import load_web_config

            web = load_web_config(args.web_config)
            tls = web.ssl_context(args.web_config)  # fails now, before any check starts
    except ConfigError as exc:
        where = f" {args.config}" if args.config else ""
        print(f"gitpod-requirements-exporter: config error{where}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    setup_logging(config.log_level if args.command == "serve" else "warning", args.log_format)
    options = Options(args.role, Path(args.host_root), args.kubeconfig, args.gitpod_config)
    if args.command == "bundle":
        return asyncio.run(write_bundle(options, loaded, args))
    if args.command == "serve" and args.node_condition:
        try:
            heartbeat = parse_duration(args.node_condition_heartbeat, "--node-condition-heartbeat")
            if args.role != "node" or not node_name(config):
                raise ConfigError("--node-condition", "needs the node role and NODE_NAME")
        except ConfigError as exc:
            print(f"gitpod-requirements-exporter: config error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        options = dataclasses.replace(
            options, node_condition=True, node_condition_heartbeat=max(heartbeat, 1.0)
        )
    if args.command == "check":
        selection = Selection(tuple(args.only), tuple(args.skip))
        return asyncio.run(check(options, loaded, args.output, args.strict, selection))
    assert listen is not None
    code = asyncio.run(serve(options, loaded, args.config, listen, web, tls))
    # A check thread stuck in a blocking client (a hung API server, say) cannot be interrupted,
    # and the interpreter would join it at exit: SIGTERM must not wait for it.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


async def write_bundle(options: Options, loaded: Loaded, args: argparse.Namespace) -> int:
    from exporter import bundle

    options = dataclasses.replace(options, role="cluster")
    progress = bundle.progress_printer()
    files = await bundle.collect(options, loaded, args.node_service, args.node_namespace,
                                 args.node_auth, progress)  # fmt: skip
    output = Path(args.output)
    try:
        bundle.write(files, output)
    except OSError as exc:
        print(f"gitpod-requirements-exporter: cannot write {output}: {exc.strerror or exc}",
              file=sys.stderr)  # fmt: skip
        return EXIT_USAGE
    print(f"wrote {output}: {len(files)} files", file=sys.stderr)
    return EXIT_OK


@dataclass(frozen=True)
class Selection:
    """--only and --skip: requirement ids or shell patterns."""

    only: tuple[str, ...] = ()
    skip: tuple[str, ...] = ()

    def wants(self, requirement_id: str) -> bool:
        def hit(patterns: tuple[str, ...]) -> bool:
            family = requirement_id.split(":")[0]
            return any(fnmatch.fnmatchcase(requirement_id, p) or p == family for p in patterns)

        return (not self.only or hit(self.only)) and not hit(self.skip)


async def check(
    options: Options,
    loaded: Loaded,
    output: str,
    strict: bool = False,
    selection: Selection = Selection(),
) -> int:
    size = loaded.config.thread_pool_size
    pool = ThreadPoolExecutor(size, thread_name_prefix="check")
    try:
        jobs = build(options, loaded, pool).jobs
        # A check runs when any of its requirements is wanted (a family by its id too).
        jobs = [j for j in jobs if any(selection.wants(r.id) for r in j.requirements)]
        runs = await asyncio.gather(*(run_job(job) for job in jobs))
    finally:
        # A thread stuck in a blocking call (a hung NFS mount under /var/gitpod) cannot be
        # interrupted: its check already reported error/timeout, and waiting for the thread
        # would hold the whole report back. run() exits without joining it.
        pool.shutdown(wait=False, cancel_futures=True)
    # What the checks judged, in registry order: some learn their requirements as they run.
    records = [r for batch in runs for r in batch if selection.wants(r.requirement.id)]
    if not records:
        print(
            "gitpod-requirements-exporter: --only/--skip leave no requirement to judge",
            file=sys.stderr,
        )
        return EXIT_USAGE
    by_id = {r.requirement.id: r for r in records}
    reqs = [r.requirement for r in records]
    views = {"json": report.as_json, "junit": report.as_junit, "text": report.as_text}
    print(views[output](options.role, reqs, by_id, strict), end="" if output == "text" else "\n")
    return report.exit_code(report.summarize(report.rows(reqs, by_id), strict, options.role))


async def serve(
    options: Options,
    loaded: Loaded,
    config_path: str | None,
    listen: tuple[str, int],
    web: WebConfig | None = None,
    tls: ssl.SSLContext | None = None,
) -> int:
    from exporter.daemon import Daemon
    from exporter.server import HTTPServer, make_routes

    config = loaded.config
    daemon = Daemon(options, loaded, config_path)
    node = node_label(config) if options.role == "node" else ""
    routes = make_routes(options.role, daemon.store, daemon.exposition(node), config.runbook_url)
    server = HTTPServer(routes, web, tls, config.web.max_connections)
    try:
        addresses = await server.start(listen[0], listen[1])
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", listen[0], listen[1], exc.strerror or exc)
        return EXIT_USAGE
    scheme = "https" if server.ssl else "http"
    for host, port in addresses[:1]:
        shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        shown = f"[{shown}]" if ":" in shown else shown
        print(
            f"Serving {options.role} role on {scheme}://{shown}:{port}/ (metrics at /metrics)",
            flush=True,
        )
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, daemon.reload)
    started = time.monotonic()
    daemon.start()
    log.info(
        "started role=%s version=%s in %.3fs", options.role, __version__, time.monotonic() - started
    )
    await stop.wait()
    log.info("stopping")
    await daemon.stop()
    await server.close()
    return EXIT_OK
