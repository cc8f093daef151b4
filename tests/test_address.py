"""The address printed on slips: loopback refused, typed addresses normalised, the suggestion
order, and the reachability check against a real server on 127.0.0.1 and a closed port (all
traffic stays on loopback)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from pingyi import address


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "LOCALHOST",
        "app.localhost",
        "127.0.0.1",
        "127.9.8.7",
        "::1",
        "[::1]",
        "0.0.0.0",
    ],
)
def test_loopback_hosts_are_recognised(host: str) -> None:
    assert address.is_loopback(host)


@pytest.mark.parametrize("host", ["office.test", "192.168.1.20", "10.0.0.5", "pingyi.example.org"])
def test_network_hosts_are_not_loopback(host: str) -> None:
    assert not address.is_loopback(host)


@pytest.mark.parametrize(
    ("typed", "base"),
    [
        ("192.168.1.20:8501", "http://192.168.1.20:8501"),
        (" http://office.test:8501/codes?x=1 ", "http://office.test:8501"),
        ("https://pingyi.example.org/", "https://pingyi.example.org"),
        ("http://[fe80::1]:8501", "http://[fe80::1]:8501"),
    ],
)
def test_typed_addresses_become_base_urls(typed: str, base: str) -> None:
    assert address.normalize(typed) == base


@pytest.mark.parametrize("typed", ["", "ftp://x", "http://", "http://host:99999"])
def test_bad_addresses_are_refused_in_chinese(typed: str) -> None:
    with pytest.raises(address.AddressError) as refused:
        address.normalize(typed)
    assert any("\u4e00" <= ch <= "\u9fff" for ch in str(refused.value))


def test_printing_is_refused_on_loopback_only() -> None:
    problem = address.printing_problem("http://localhost:8501")
    assert problem is not None and "手机扫码后打开的是手机自己" in problem
    assert address.printing_problem("127.0.0.1:8501") is not None
    assert address.printing_problem("http://office.test:8501") is None


def test_the_browser_address_comes_first_then_the_configured_then_the_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(address, "network_addresses", lambda: ["192.0.2.7", "198.51.100.3"])
    used = address.suggest(request_url="http://office.test:8600/codes", configured=None, port=8600)
    assert (used.base_url, used.choices) == ("http://office.test:8600", ())
    configured = address.suggest(
        request_url="http://localhost:8600/codes", configured="https://p.example.org", port=8600
    )
    assert configured.base_url == "https://p.example.org"
    network = address.suggest(request_url="http://127.0.0.1:8600/", configured=None, port=8600)
    assert network.base_url == "http://192.0.2.7:8600"
    assert network.choices == ("http://192.0.2.7:8600", "http://198.51.100.3:8600")
    monkeypatch.setattr(address, "network_addresses", lambda: [])
    alone = address.suggest(request_url=None, configured=None, port=None)
    assert alone.base_url == "http://localhost:8501"
    assert address.printing_problem(alone.base_url) is not None


def test_network_addresses_are_never_loopback() -> None:
    assert not [ip for ip in address.network_addresses() if address.is_loopback(ip)]


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        ok = self.path == address.HEALTH
        self.send_response(200 if ok else 404)
        self.end_headers()
        self.wfile.write(b"ok" if ok else b"no")

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the socket is


def test_the_check_says_reachable_for_a_running_app(health_server: int) -> None:
    result = address.check(f"http://127.0.0.1:{health_server}")
    assert result.ok and "可以访问" in result.message


def test_the_check_says_unreachable_for_a_closed_port() -> None:
    port = closed_port()
    result = address.check(f"127.0.0.1:{port}", timeout=2)
    assert not result.ok and "无法访问" in result.message and "防火墙" in result.message


def test_network_addresses_come_from_the_interfaces_that_are_up_virtual_bridges_last(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import psutil

    def entry(ip: str) -> SimpleNamespace:
        return SimpleNamespace(family=socket.AF_INET, address=ip)

    interfaces = {
        "docker0": [entry("172.17.0.1")],
        "eth0": [entry("192.168.1.20"), SimpleNamespace(family=socket.AF_INET6, address="fe80::1")],
        "lo": [entry("127.0.0.1")],
        "wlan0": [entry("10.0.0.5")],
        "eth1": [entry("169.254.3.4")],
    }
    up = {name: SimpleNamespace(isup=name != "wlan0") for name in interfaces}
    monkeypatch.setattr(psutil, "net_if_addrs", lambda: interfaces)
    monkeypatch.setattr(psutil, "net_if_stats", lambda: up)
    assert address.network_addresses() == ["192.168.1.20", "172.17.0.1"]
