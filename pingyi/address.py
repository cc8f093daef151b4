"""The address printed on 测评码 slips: where evaluators' phones reach the app.

A slip with `http://localhost:8501/…` is dead on every phone (localhost is the phone itself),
so the address is never a loopback one by accident: `printing_problem` refuses it, saying what
to do. `suggest` picks the address to offer (the one the office's browser used, the configured
one, or this machine's network addresses), and `check` asks the app's health endpoint through
an address, as a phone on the same network would.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

HEALTH = "/_stcore/health"
DEFAULT_PORT = 8501
CHECK_SECONDS = 3.0


class AddressError(ValueError):
    """An address that cannot be used; the message is for the office, in Chinese."""


def is_loopback(host: str) -> bool:
    """Whether the host name or IP is this device itself (on a phone: the phone)."""
    name = host.strip().strip("[]").lower().rstrip(".")
    if name in ("localhost", "") or name.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_unspecified


def normalize(typed: str) -> str:
    """A base URL (scheme://host[:port], no path) from what the office typed."""
    text = (typed or "").strip()
    if not text:
        raise AddressError("请填写评议人员手机访问本系统的地址,例如 http://192.168.1.20:8501")
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressError(f"「{typed.strip()}」不是有效的网址,请填写如 http://192.168.1.20:8501")
    try:
        port = parts.port
    except ValueError:
        raise AddressError(f"「{typed.strip()}」中的端口号无效") from None
    host = parts.hostname
    if ":" in host:  # IPv6
        host = f"[{host}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def host_of(base_url: str) -> str:
    return urlsplit(base_url).hostname or ""


def printing_problem(base_url: str) -> str | None:
    """Why slips must not be printed with this address, in Chinese; None when it may."""
    try:
        base = normalize(base_url)
    except AddressError as exc:
        return str(exc)
    if is_loopback(host_of(base)):
        return (
            f"「{base}」是本机地址:手机扫码后打开的是手机自己,无法投票,所以不能打印到测评码条上。"
            "请填写本机在局域网中的地址(如 http://192.168.1.20:8501,可用 pingyi serve 查看),"
            "或设置 PINGYI_BASE_URL;也可以用这个地址在本机浏览器打开本页,地址会自动填好。"
        )
    return None


# Interfaces of containers and virtual machines on this machine: phones are not on them.
_VIRTUAL = ("docker", "br-", "veth", "virbr", "vmnet", "vboxnet", "cni", "flannel", "tun", "tap")


def network_addresses() -> list[str]:
    """This machine's IPv4 addresses on its network interfaces that are up, other than
    loopback and link-local, virtual bridges last. Read from the interfaces: nothing is sent
    or looked up (a host name may resolve to 127.0.1.1 and say nothing)."""
    import psutil

    stats = psutil.net_if_stats()
    found: list[tuple[bool, str, str]] = []
    for name, entries in psutil.net_if_addrs().items():
        if name in stats and not stats[name].isup:
            continue
        for entry in entries:
            if entry.family != socket.AF_INET:
                continue
            ip = ipaddress.ip_address(entry.address)
            if ip.is_loopback or ip.is_link_local or ip.is_unspecified:
                continue
            found.append((name.startswith(_VIRTUAL), name, entry.address))
    ordered = [ip for _, _, ip in sorted(found)]
    return list(dict.fromkeys(ordered))


@dataclass(frozen=True)
class Suggestion:
    """The address to offer for the slips, and where it came from (in Chinese)."""

    base_url: str
    source: str
    choices: tuple[str, ...] = ()  # this machine's network addresses, when there are several


def suggest(*, request_url: str | None, configured: str | None, port: int | None) -> Suggestion:
    """The address the office's browser used, when that is not loopback; else the configured
    `PINGYI_BASE_URL`; else this machine's network addresses on the app's port."""
    if request_url:
        try:
            used = normalize(request_url)
        except AddressError:
            used = ""
        if used and not is_loopback(host_of(used)):
            return Suggestion(used, "本页在浏览器中打开时使用的地址")
    if configured:
        return Suggestion(normalize(configured), "PINGYI_BASE_URL 中设置的地址")
    on_network = tuple(f"http://{ip}:{port or DEFAULT_PORT}" for ip in network_addresses())
    if on_network:
        return Suggestion(on_network[0], "本机的局域网地址", on_network)
    fallback = normalize(request_url) if request_url else f"http://localhost:{DEFAULT_PORT}"
    return Suggestion(fallback, "没有找到本机的局域网地址")


@dataclass(frozen=True)
class Reachability:
    ok: bool
    message: str


def check(base_url: str, *, timeout: float = CHECK_SECONDS) -> Reachability:
    """Ask the app's health endpoint through the address, as a phone on the network would."""
    try:
        base = normalize(base_url)
    except AddressError as exc:
        return Reachability(False, str(exc))
    try:
        with urllib.request.urlopen(base + HEALTH, timeout=timeout) as reply:
            body = reply.read(64).decode(errors="replace").strip()
            if reply.status == 200 and body == "ok":
                return Reachability(True, f"可以访问:{base} 有应答。同一网络中的手机扫码应能打开。")
            return Reachability(False, f"{base} 有应答,但不是本系统(返回 {reply.status})。")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Reachability(
            False,
            f"无法访问 {base}({reason})。请确认地址和端口,以及本机防火墙允许该端口;"
            "手机和本机须在同一网络。",
        )
