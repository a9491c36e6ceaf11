"""Classroom serving: this machine's address on the local network, and the page's address as a QR code.

The address is found locally, without sending anything: connecting a UDP socket only picks the interface
the system would route through (no packet leaves), then the socket's own address is read. The QR code is
drawn by segno (pure Python), here, as SVG.
"""

from __future__ import annotations

import io
import ipaddress
import socket

from pydantic import BaseModel, Field

LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost", "0.0.0.0", "::", ""}
ALL_INTERFACES = {"0.0.0.0", "::"}
MAX_QR_URL = 400  # a longer address makes a QR code too dense to scan from the back of a room
# private addresses to "connect" a UDP socket to: no packet is sent, the system only picks a route
_PROBES = ("10.255.255.255", "192.168.255.255", "172.31.255.255")


def _usable(ip: str) -> bool:
    try:
        a = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return a.version == 4 and not (a.is_loopback or a.is_unspecified or a.is_link_local or a.is_multicast)


def lan_address() -> str | None:
    """This machine's IPv4 address on the local network, or None when it has none (loopback only)."""
    for probe in _PROBES:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.connect((probe, 9))  # UDP: sets the route only, sends nothing
                ip = s.getsockname()[0]
        except OSError:
            continue
        if _usable(ip):
            return ip
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return None
    for info in infos:
        ip = str(info[4][0])
        if _usable(ip):
            return ip
    return None


def student_url(host: str, port: int) -> tuple[str, bool]:
    """The address students open for a server listening on `host`:`port`, and whether it is a network one."""
    if host in ALL_INTERFACES:
        ip = lan_address()
        if ip:
            return f"http://{ip}:{port}/", True
        return f"http://127.0.0.1:{port}/", False
    if host in LOOPBACK_HOSTS or host.startswith("127."):
        return f"http://127.0.0.1:{port}/", False
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/", True


def qr_svg(data: str) -> str:
    """An SVG QR code for `data` (segno, error correction M, a 4-module quiet zone)."""
    import segno

    qr = segno.make(data, error="m", micro=False)
    out = io.BytesIO()
    # with its namespace and a viewBox: the page shows it as an <img> (a data: URL), scaled to fit
    qr.save(out, kind="svg", scale=6, border=4, dark="#000", light="#fff", xmldecl=False, svgns=True,
            svgclass="qr", lineclass=None, omitsize=True, nl=False, title="the address students open")
    return out.getvalue().decode("utf-8")


class ShareInfo(BaseModel):
    url: str = Field(..., description="the address students should open (with the view, when it fits in a QR code)")
    base_url: str = Field(..., description="the address of the start page")
    reachable: bool = Field(..., description="false: the server listens on this machine only (127.0.0.1), so "
                                             "other machines cannot open the address")
    note: str | None = Field(None, description="what the teacher should know, in one sentence")
    qr_svg: str = Field(..., description="`url` as a QR code: one <svg> element, drawn locally")
