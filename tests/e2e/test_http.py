"""The HTTP server as clients meet it: Prometheus (gzip, keep-alive, OpenMetrics), browsers,
broken clients, and the web config (TLS, client certificates, basic auth)."""

from __future__ import annotations

import gzip
import http.client
import socket
import ssl
import subprocess
import urllib.request
from pathlib import Path

import bcrypt
import pytest
import trustme
import yaml

from tests.helpers.exporter import EXE, Served, start
from tests.servers.procs import require_binary
from tests.servers.tls import ca_file, leaf


def test_keep_alive_gzip_head_and_errors(node_exporter: Served) -> None:
    host, port = node_exporter.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    for _ in range(3):  # one connection, several scrapes
        conn.request("GET", "/metrics", headers={"Accept-Encoding": "gzip"})
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200 and r.getheader("Content-Encoding") == "gzip"
        assert b"gitpod_requirement_info" in gzip.decompress(body)
    # HEAD answers the GET's headers, Content-Length included, without the body.
    conn.request("HEAD", "/metrics", headers={"Accept-Encoding": "gzip"})
    r = conn.getresponse()
    assert (r.status, r.read(), r.getheader("Content-Encoding")) == (200, b"", "gzip")
    assert int(r.getheader("Content-Length")) > 0
    conn.request("HEAD", "/healthz")
    r = conn.getresponse()
    assert (r.status, r.read(), r.getheader("Content-Length")) == (200, b"", "3")
    conn.request("GET", "/nope")
    r = conn.getresponse()
    assert (r.status, r.read()) == (404, b"not found\n")
    conn.request("POST", "/metrics", body=b"x")
    r = conn.getresponse()
    assert (r.status, r.getheader("Allow")) == (405, "GET, HEAD")
    r.read()
    conn.close()


@pytest.mark.parametrize(
    "raw, status",
    [
        (b"garbage\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nno-colon-here\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n", 431),
    ],
)
def test_malformed_requests_get_an_error_not_a_crash(
    node_exporter: Served, raw: bytes, status: int
) -> None:
    host, port = node_exporter.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(raw)
        answer = s.recv(200)
    assert answer.startswith(f"HTTP/1.1 {status} ".encode()), answer
    assert node_exporter.get("/healthz")[0] == 200


def web_config(tmp_path: Path, ca: trustme.CA, **extra: object) -> Path:
    cert = leaf(ca, "127.0.0.1")
    cert_file, key_file = tmp_path / "tls.crt", tmp_path / "tls.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    cert.private_key_pem.write_to_path(str(key_file))
    doc = {"tls_server_config": {"cert_file": str(cert_file), "key_file": str(key_file)}, **extra}
    path = tmp_path / "web.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def get(url: str, context: ssl.SSLContext, auth: tuple[str, str] | None = None) -> int:
    req = urllib.request.Request(url)
    if auth:
        import base64

        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        req.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(req, context=context, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def serve_with(web: Path) -> Served:
    served = start(["--role", "node", "--host-root", "/", "--web-config", str(web)])
    assert served.url.startswith("https://"), served.url
    return served


def test_tls_and_basic_auth_with_htpasswd_and_python_hashes(tmp_path: Path, tls_ca) -> None:
    htpasswd = require_binary("htpasswd", "apache2-utils")
    line = subprocess.run([htpasswd, "-nbB", "prometheus", "scrape-secret"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    users = {
        "prometheus": line.split(":", 1)[1],  # $2y$, as node_exporter's docs make them
        "grafana": bcrypt.hashpw(b"other-secret", bcrypt.gensalt(4)).decode(),
    }
    served = serve_with(web_config(tmp_path, tls_ca, basic_auth_users=users))
    ctx = ssl.create_default_context(cafile=ca_file(tls_ca, tmp_path))
    try:
        url = served.url + "/metrics"
        assert get(url, ctx, ("prometheus", "scrape-secret")) == 200
        assert get(url, ctx, ("prometheus", "scrape-secret")) == 200  # remembered
        assert get(url, ctx, ("grafana", "other-secret")) == 200
        assert get(url, ctx, ("prometheus", "wrong")) == 401
        assert get(url, ctx, ("nobody", "scrape-secret")) == 401
        assert get(url, ctx) == 401
        assert get(served.url + "/", ctx) == 401  # every page, not only /metrics
        assert get(served.url + "/report.json", ctx) == 401
        assert get(served.url + "/report.json", ctx, ("prometheus", "scrape-secret")) == 200
        assert get(served.url + "/pod-network-probe", ctx) == 200  # a peer's probe, as /healthz
        untrusting = ssl.create_default_context()
        with pytest.raises(urllib.error.URLError):
            get(url, untrusting, ("prometheus", "scrape-secret"))
        plain = served.url.replace("https://", "http://") + "/metrics"
        with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
            urllib.request.urlopen(plain, timeout=5).read()
    finally:
        served.proc.terminate()
        served.proc.wait(10)
    assert "scrape-secret" not in served.logs()


def test_client_certificates_required(tmp_path: Path, tls_ca) -> None:
    ca = ca_file(tls_ca, tmp_path)
    web = web_config(tmp_path, tls_ca)
    doc = yaml.safe_load(web.read_text())
    doc["tls_server_config"].update(client_auth_type="RequireAndVerifyClientCert",
                                    client_ca_file=ca)  # fmt: skip
    web.write_text(yaml.safe_dump(doc))
    served = serve_with(web)
    try:
        anonymous = ssl.create_default_context(cafile=ca)
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            get(served.url + "/metrics", anonymous)
        client = ssl.create_default_context(cafile=ca)
        tls_ca.issue_cert("prometheus@example.com").configure_cert(client)
        assert get(served.url + "/metrics", client) == 200
    finally:
        served.proc.terminate()
        served.proc.wait(10)


@pytest.mark.parametrize(
    "doc, field",
    [
        ({"basic_auth_users": {"u": "plaintext"}}, "basic_auth_users.u"),
        ({"tls_server_config": {"cert_file": "/nonexistent", "key_file": "/x"}},
         "tls_server_config"),
        ({"tls_server_config": {"client_auth_type": "Sometimes"}},
         "tls_server_config.client_auth_type"),
        ({"tls_sever_config": {}}, "tls_sever_config"),
    ],
)  # fmt: skip
def test_a_broken_web_config_stops_start_up_naming_the_field(
    tmp_path: Path, doc: dict, field: str
) -> None:
    path = tmp_path / "web.yaml"
    path.write_text(yaml.safe_dump(doc))
    out = subprocess.run([str(EXE), "serve", "--role", "node", "--web-config", str(path)],
                         capture_output=True, text=True, timeout=30)  # fmt: skip
    assert out.returncode == 2
    assert field in out.stderr


@pytest.mark.parametrize(
    "accept", ["", "application/openmetrics-text; version=1.0.0"], ids=["text", "openmetrics"]
)
@pytest.mark.parametrize("encoding", ["", "gzip"])
def test_promtool_accepts_what_metrics_serves(
    node_exporter: Served, accept: str, encoding: str
) -> None:
    # Rendered on change and served from the cache, plain or gzipped, in either format: what
    # Prometheus parses must stay clean (OpenMetrics ending in exactly one # EOF).
    headers = {"Accept": accept, "Accept-Encoding": encoding}
    with urllib.request.urlopen(
        urllib.request.Request(node_exporter.url + "/metrics", headers=headers), timeout=5
    ) as resp:
        body = resp.read()
        if resp.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
    if accept:
        assert body.endswith(b"\n# EOF\n") and body.count(b"# EOF") == 1
        return  # promtool check metrics reads the text format only
    out = subprocess.run(
        [require_binary("promtool", "prometheus"), "check", "metrics"],
        input=body, capture_output=True, timeout=30,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
