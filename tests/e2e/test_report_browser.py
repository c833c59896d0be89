"""The report page as a user sees it: headless Chromium (Debian's) renders / of a running
exporter; the DOM has a row per requirement with its state, hostile observed values stay text,
and a screenshot is kept under the test's tmp dir."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

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


MEASURE = """<script>
document.body.dataset.scrollWidth = document.scrollingElement.scrollWidth;
document.body.dataset.innerWidth = window.innerWidth;
</script>"""


def rendered(page: str, tmp_path: Path, name: str, width: int, height: int) -> str:
    """The page as Chromium lays it out at width x height (a local copy: it is self-contained),
    with its scroll and window widths recorded on <body>; a screenshot beside it."""
    copy = tmp_path / f"{name}-{width}.html"
    copy.write_text(page.replace("</body>", MEASURE + "</body>"))
    chromium(
        f"--screenshot={tmp_path / f'{name}-{width}.png'}",
        f"--window-size={width},{height}",
        copy.as_uri(),
    )
    return chromium(f"--window-size={width},{height}", "--dump-dom", copy.as_uri()).stdout


def _anchors() -> set[str]:
    text = (Path(__file__).resolve().parents[2] / "docs" / "runbook.md").read_text()
    return {
        m.group(1).strip().lower().replace(" ", "-")
        for m in re.finditer(r"^#{2,4} (.+)$", text, re.M)
    }


@pytest.mark.parametrize("state", ["all_pass", "mixed_failures", "api_down"])
def test_the_page_answers_ready_or_not_at_any_width(
    state: str, tmp_path: Path, containerd, kube_api
) -> None:
    if state == "api_down":
        kc = kube_api.kubeconfig(tmp_path / "kc", server="http://127.0.0.1:1")
        served = start(["--role", "cluster", "--kubeconfig", str(kc)])
    else:
        node = Node() if state == "all_pass" else Node(kernel="4.19.0-26-cloud-amd64", cpus=2)
        root = node.build(tmp_path / "host", containerd.socket)
        served = start(["--role", "node", "--host-root", str(root)], {"NODE_NAME": "w-1"})
    try:
        served.wait_ready(30)
        page = served.get("/")[2]
    finally:
        served.proc.terminate()
        served.proc.wait(10)
    expected = {"all_pass": "ready", "mixed_failures": "not_ready", "api_down": "not_ready"}[state]
    anchors = _anchors()
    for width, height in ((1280, 800), (390, 844)):
        dom = rendered(page, tmp_path, state, width, height)
        assert f'data-verdict="{expected}"' in dom, dom[-2000:]
        scroll = int(re.search(r'data-scroll-width="(\d+)"', dom).group(1))
        inner = int(re.search(r'data-inner-width="(\d+)"', dom).group(1))
        assert scroll <= inner, f"{state} at {width}px overflows: {scroll} > {inner}"
    statuses = re.findall(r'data-status="(\w+)"', page)
    ranks = [{"fail": 0, "error": 1}.get(s, 2) for s in statuses]
    assert ranks == sorted(ranks) or state == "mixed_failures"  # warnings sort after errors
    if state != "all_pass":
        assert statuses[0] in ("fail", "error")
    for fragment in re.findall(r'runbook\.md#([\w-]+)"', page):
        assert fragment in anchors, fragment
    if state == "api_down":
        assert 'data-cause="connect"' in page  # one banner for the shared cause
        assert page.count("See the shared cause above.") >= 3
