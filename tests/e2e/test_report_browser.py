"""The report page as a user sees it: headless Chromium (Debian's) renders / of a running
exporter; the DOM has a row per requirement with its state, hostile observed values stay text,
and a screenshot is kept under the test's tmp dir."""

from __future__ import annotations

import subprocess
from pathlib import Path

from exporter.checks import NODE_CHECKS
from tests.helpers.exporter import start
from tests.hosts import UBUNTU_2204, Node
from tests.servers.procs import require_binary

HOSTILE = '<script>document.title="pwned"</script><img src=x onerror="document.title=1">'


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    exe = require_binary("chromium", "chromium")
    return subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--user-data-dir=/tmp/gre-chromium", *args],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip


def test_report_page_in_a_browser(tmp_path: Path, containerd) -> None:
    os_release = UBUNTU_2204.replace('PRETTY_NAME="Ubuntu 22.04.3 LTS"',
                                     f"PRETTY_NAME='{HOSTILE}'")  # fmt: skip
    root = Node(os_release=os_release, kernel="4.19.0-26-cloud-amd64").build(
        tmp_path / "host", containerd.socket
    )
    served = start(["--role", "node", "--host-root", str(root)], {"NODE_NAME": "worker-3"})
    try:
        served.wait_ready(30)
        dom = chromium("--dump-dom", served.url + "/")
        shot = tmp_path / "report.png"
        chromium(f"--screenshot={shot}", "--window-size=1400,1000", served.url + "/")
    finally:
        served.proc.terminate()
        served.proc.wait(10)
    html = dom.stdout
    assert "<table" in html, dom.stderr[-2000:]
    for check in NODE_CHECKS:
        assert f'data-requirement="{check.id}"' in html
    assert 'data-requirement="node_kernel" data-status="fail"' in html
    assert 'data-requirement="node_cpu" data-status="pass"' in html
    # The hostile observed value is shown as text: no element was created, no script ran.
    assert "&lt;script&gt;" in html
    assert "<script>document.title" not in html and "<img src=" not in html
    assert "pwned" not in html.split("<title>", 1)[1].split("</title>", 1)[0]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
