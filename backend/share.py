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


def is_network_address(ip: str) -> bool:
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
        if is_network_address(ip):
            return ip
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET, socket.SOCK_DGRAM)
    except OSError:
        return None
    for info in infos:
        ip = str(info[4][0])
        if is_network_address(ip):
            return ip
    return None


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "localhost.", "[::1]")  # the Host names a server always answers


def local_addresses() -> set[str]:
    """Every address of this machine's interfaces (Linux: /proc/net; elsewhere what its hostname resolves to),
    without the loopback and link-local ones."""
    found: set[str] = set()
    try:  # IPv4: the "/32 host LOCAL" leaves of the routing trie
        lines = open("/proc/net/fib_trie", encoding="ascii").read().splitlines()
        for prev, line in zip(lines, lines[1:], strict=False):
            if line.strip() == "/32 host LOCAL" and "--" in prev:
                found.add(prev.split("--")[-1].strip())
    except OSError:
        pass
    try:  # IPv6: 32 hex digits per line
        for line in open("/proc/net/if_inet6", encoding="ascii"):
            hexa = line.split()[0]
            found.add(str(ipaddress.IPv6Address(int(hexa, 16))))
    except (OSError, ValueError, IndexError):
        pass
    try:
        for info in socket.getaddrinfo(socket.gethostname(), None):
            found.add(str(info[4][0]).split("%")[0])
    except OSError:
        pass
    ip = lan_address()
    if ip:
        found.add(ip)
    out = set()
    for a in found:
        try:
            addr = ipaddress.ip_address(a)
        except ValueError:
            continue
        if not (addr.is_loopback or addr.is_unspecified or addr.is_link_local or addr.is_multicast):
            out.add(str(addr))
    return out


def host_form(name: str) -> str:
    """A name as a Host header carries it, without the port: lower case, an IPv6 address in brackets."""
    name = name.strip().lower()
    if ":" in name and not name.startswith("["):
        return f"[{name}]"
    return name


def machine_hosts(host: str) -> set[str]:
    """The Host names of a server listening on `host`: the loopback names always; on all interfaces (0.0.0.0, ::)
    or on one address of the network also this machine's names (hostname, its fully qualified name, name.local)
    and its own addresses. A DNS name is taken with and without its final dot (localhost. is localhost)."""
    names = set(LOOPBACK_NAMES)
    if host in ALL_INTERFACES or (host not in LOOPBACK_HOSTS and not host.startswith("127.")):
        if host not in ALL_INTERFACES:
            names.add(host_form(host))
        for name in {socket.gethostname(), socket.getfqdn()}:
            if name and name.lower() != "localhost":
                names.update({name.lower(), f"{name.lower()}.local"})
        if host in ALL_INTERFACES:
            names.update(host_form(a) for a in local_addresses())
    return with_final_dots(names)


def with_final_dots(names: set[str]) -> set[str]:
    """Each DNS name also with a final dot (the absolute form a browser may send); addresses as they are."""
    out = set()
    for name in names:
        out.add(name)
        bare = name.rstrip(".")
        try:
            ipaddress.ip_address(bare.strip("[]"))
        except ValueError:
            out.update({bare, bare + "."})
    return out


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
