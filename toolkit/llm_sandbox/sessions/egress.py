"""The installer's only way out: a filtering HTTP proxy on a Unix socket of this machine.

The installer container has no network (``network_mode="none"``: only its own
loopback). The Unix socket of an :class:`EgressProxy` is bind-mounted into it,
and a small relay inside (``runtime/relay.pl``, Perl being in every Debian
image) listens on the installer's own loopback and passes each connection
through. pip, npm, apt, gem and go find the relay through the usual
``HTTP(S)_PROXY`` variables.

The proxy serves ``CONNECT host:port`` tunnels (HTTPS) and plain-HTTP requests
(apt's mirrors), to:

* the package indexes and proxies this host is configured with
  (``PIP_INDEX_URL``, ``GOPROXY``, ``HTTPS_PROXY``..., see ``llm_sandbox.host``),
  whatever their address — an operator's loopback devpi included;
* any other host on ports 80 and 443, when every address it resolves to is
  outside this machine and outside private, loopback, link-local (cloud
  metadata), shared, multicast and reserved networks.

Everything else is refused with a 403 whose reason the package manager shows.
The name is resolved once, here, and the checked address is the one connected
to (no DNS rebinding). With an upstream proxy configured on this host
(``HTTPS_PROXY``), tunnels go through it, as the host's own clients' would.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

logger = logging.getLogger("llm_sandbox")

PUBLIC_PORTS = frozenset({80, 443})
"""Ports any public host may be reached on; configured indexes may use others."""

_FORBIDDEN_NETWORKS = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
)  # fmt: skip
"""This machine, private networks, link-local (cloud metadata at 169.254.169.254), shared, multicast, reserved."""

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
_HEAD_LIMIT = 64 * 1024
_CONNECT_TIMEOUT = 30.0
_IDLE_TIMEOUT = 300.0
_MAX_CONNECTIONS = 64


class Refused(Exception):
    """A destination the installer may not reach; its message becomes the 403's reason."""


def forbidden_address(address: str) -> str | None:
    """Why ``address`` may not be reached (``"this machine's loopback"``...), or None when it may."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in ipaddress.ip_network("64:ff9b::/96"):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return forbidden_address(str(embedded))
    if ip.is_loopback:
        return "this machine's loopback"
    for network in _FORBIDDEN_NETWORKS:
        if ip in network:
            return f"a private, link-local or reserved network ({network})"
    if _is_local(ip):
        return "an address of this machine"
    return None


def _is_local(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``ip`` is one of this machine's own addresses (a socket can be bound to it)."""
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((str(ip), 0))
        except OSError:
            return False
        return True


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def endpoint_of(url: str) -> Endpoint | None:
    """The host and port of an http(s) URL (``https://pypi.example/simple`` -> pypi.example:443)."""
    try:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        return Endpoint(parts.hostname.lower(), parts.port or (443 if parts.scheme == "https" else 80))
    except ValueError:
        return None


def configured_endpoints(settings: Mapping[str, str]) -> set[Endpoint]:
    """Every http(s) endpoint named by the host's package settings (indexes, registries, proxies)."""
    found = set()
    for name, value in settings.items():
        if name.upper() in ("NO_PROXY", "PIP_TRUSTED_HOST", "GONOSUMDB"):
            continue
        for url in value.replace(",", " ").replace("|", " ").split():
            endpoint = endpoint_of(url)
            if endpoint is not None:
                found.add(endpoint)
    return found


def is_loopback_host(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass
class EgressProxy:
    """A filtering proxy for one installer, listening on a Unix socket in a private directory.

    ``allowed``: endpoints reached whatever their address (the host's configured
    indexes and proxies). ``upstream``: the host's own proxy, tunnelled through
    for every destination not matched by ``no_proxy``.
    """

    allowed: set[Endpoint] = field(default_factory=set)
    upstream: Endpoint | None = None
    no_proxy: tuple[str, ...] = ()
    refused: list[str] = field(default_factory=list)
    """What was refused, for the error a user gets when the install fails."""
    path: str = ""
    _server: socket.socket | None = None
    _directory: str = ""
    _connections: set[socket.socket] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _slots: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(_MAX_CONNECTIONS))

    @classmethod
    def for_host(cls, settings: Mapping[str, str]) -> EgressProxy:
        """The proxy for an installer using the host's package ``settings`` (``host_package_settings()``)."""
        upstream = next(
            (endpoint_of(settings[name]) for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
                                                      "ALL_PROXY", "all_proxy") if settings.get(name)),
            None,
        )  # fmt: skip
        no_proxy = settings.get("NO_PROXY") or settings.get("no_proxy") or ""
        return cls(
            allowed=configured_endpoints(settings),
            upstream=upstream,
            no_proxy=tuple(item.strip().lower().lstrip("*") for item in no_proxy.split(",") if item.strip()),
        )

    def start(self) -> str:
        """Listen; returns the socket's path (its directory may be searched by anyone, the socket used by anyone:
        the installer runs as another user)."""
        self._directory = tempfile.mkdtemp(prefix="llm-sandbox-egress-")
        os.chmod(self._directory, 0o711)
        self.path = os.path.join(self._directory, "egress.sock")
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(self.path)
        os.chmod(self.path, 0o666)
        server.listen(_MAX_CONNECTIONS)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), name="llm-sandbox-egress", daemon=True).start()
        return self.path

    def close(self) -> None:
        """Stop listening, cut every open connection, remove the socket."""
        server, self._server = self._server, None
        if server is not None:
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)
            server.close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        with contextlib.suppress(OSError):
            os.rmdir(self._directory)

    def __enter__(self) -> EgressProxy:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # serving ----------------------------------------------------------------------------------
    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # closed
            if not self._slots.acquire(blocking=False):
                self._reply(client, 503, "too many connections through the installer's proxy")
                client.close()
                continue
            threading.Thread(target=self._serve, args=(client,), name="llm-sandbox-egress-conn", daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            self._track(client)
            client.settimeout(_IDLE_TIMEOUT)
            head, rest = _read_head(client)
            method, target, request = _parse(head)
            destination = _destination(method, target)
            try:
                upstream = self._connect(destination)
            except Refused as exc:
                self.refused.append(f"{destination} ({exc})")
                logger.info("installer proxy: refused %s: %s", destination, exc)
                self._reply(client, 403, f"llm-sandbox: {destination} is not reachable from the installer: {exc}")
                return
            except OSError as exc:
                self._reply(client, 502, f"cannot reach {destination}: {_failure_words(exc)}")
                return
            self._track(upstream)
            if method == "CONNECT":
                client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                upstream.sendall(request + rest)
            _relay(client, upstream)
        except (OSError, ValueError) as exc:
            logger.debug("installer proxy: %s", exc)
            if isinstance(exc, ValueError):
                self._reply(client, 400, str(exc))
        finally:
            for sock in (client, upstream):
                if sock is not None:
                    self._untrack(sock)
                    sock.close()
            self._slots.release()

    def _connect(self, destination: Endpoint) -> socket.socket:
        """A connection to ``destination`` (through the upstream proxy where one is configured), once allowed."""
        configured = destination in self.allowed or (
            is_loopback_host(destination.host)
            and any(is_loopback_host(e.host) and e.port == destination.port for e in self.allowed)
        )
        via_upstream = self.upstream is not None and not configured and not self._bypasses(destination.host)
        try:
            addresses = [str(info[4][0]) for info in socket.getaddrinfo(destination.host, destination.port,
                                                                   type=socket.SOCK_STREAM)]  # fmt: skip
        except socket.gaierror as exc:
            if not via_upstream:  # in the words Go, RubyGems and the installer script recognise
                raise OSError(f"no such host {destination.host} (getaddrinfo: {exc.strerror})") from None
            addresses = []  # the upstream proxy resolves it
        if not configured:
            for address in addresses:
                why = forbidden_address(address)
                if why is not None:
                    raise Refused(f"it is {why}" if address == destination.host else f"it resolves to {address}, {why}")
            if destination.port not in PUBLIC_PORTS:
                raise Refused(f"port {destination.port} is not a package index's (80, 443, or one configured here)")
        if via_upstream:
            assert self.upstream is not None
            return _tunnel(self.upstream, destination)
        return socket.create_connection((addresses[0], destination.port), timeout=_CONNECT_TIMEOUT)

    def _bypasses(self, host: str) -> bool:
        return any(host == item or (item.startswith(".") and host.endswith(item)) or host.endswith("." + item)
                   for item in self.no_proxy)  # fmt: skip

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.add(sock)

    def _untrack(self, sock: socket.socket) -> None:
        with self._lock:
            self._connections.discard(sock)

    @staticmethod
    def _reply(client: socket.socket, status: int, reason: str) -> None:
        reason = reason.replace("\r", " ").replace("\n", " ")[:300].encode("ascii", "replace").decode()
        body = (reason + "\n").encode()
        head = f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
        with contextlib.suppress(OSError):
            client.sendall(head.encode() + b"Connection: close\r\n\r\n" + body)


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    """The request head (up to the blank line) and whatever arrived after it."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > _HEAD_LIMIT:
            raise ValueError("request head too large")
        chunk = sock.recv(65536)
        if not chunk:
            raise ValueError("the connection closed before a request arrived")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def _parse(head: bytes) -> tuple[str, str, bytes]:
    """Method, target, and the request to send on (plain HTTP: origin-form, one request, then close)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3:
        raise ValueError(f"malformed request line {lines[0][:100]!r}")
    method, target, version = parts
    if method == "CONNECT":
        return method, target, b""
    url = urlsplit(target)
    if url.scheme != "http" or not url.hostname:
        raise ValueError(f"the installer's proxy forwards http:// URLs and CONNECT tunnels, not {target[:100]!r}")
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    kept = [line for line in lines[1:] if not line.lower().startswith(("connection:", "proxy-", "keep-alive:"))]
    request = "\r\n".join([f"{method} {path} {version}", *kept, "Connection: close", "", ""])
    return method, target, request.encode("latin-1")


def _destination(method: str, target: str) -> Endpoint:
    if method == "CONNECT":
        host, _, port = target.rpartition(":")
        host = host.strip("[]").lower()
        if not host or not port.isdigit():
            raise ValueError(f"malformed CONNECT target {target[:100]!r}")
        return Endpoint(host, int(port))
    endpoint = endpoint_of(target)
    if endpoint is None:
        raise ValueError(f"malformed URL {target[:100]!r}")
    return endpoint


def _tunnel(proxy: Endpoint, destination: Endpoint) -> socket.socket:
    """A connection to ``destination`` through the HTTP proxy ``proxy`` (CONNECT)."""
    sock = socket.create_connection((proxy.host, proxy.port), timeout=_CONNECT_TIMEOUT)
    try:
        sock.sendall(f"CONNECT {destination} HTTP/1.1\r\nHost: {destination}\r\n\r\n".encode())
        head, rest = _read_head(sock)
        status = head.split(b"\r\n", 1)[0].split(b" ")
        if len(status) < 2 or status[1] != b"200" or rest:
            answer = head.split(b"\r\n", 1)[0][:100].decode("latin-1")
            raise OSError(f"the proxy {proxy} answered {answer}")
        return sock
    except BaseException:
        sock.close()
        raise


def _relay(client: socket.socket, upstream: socket.socket) -> None:
    """Copy bytes both ways until both sides are done (or idle for too long)."""
    upstream.settimeout(_IDLE_TIMEOUT)

    def pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)

    other = threading.Thread(target=pump, args=(upstream, client), name="llm-sandbox-egress-pump", daemon=True)
    other.start()
    pump(client, upstream)
    other.join()


def _failure_words(error: OSError) -> str:
    """A connection error in the words Go, RubyGems and the installer script recognise (``no such host``...)."""
    text = str(error)
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, TimeoutError):
        return "i/o timeout"
    return text if "no such host" in text else f"dial tcp: {text}"


def relay_ports(allowed: Iterable[Endpoint], proxy_port: int) -> list[int]:
    """Loopback ports the relay also forwards as they are (indexes configured on this host's loopback)."""
    return sorted({e.port for e in allowed if is_loopback_host(e.host) and e.port != proxy_port})


__all__ = ["EgressProxy", "Endpoint", "Refused", "configured_endpoints", "forbidden_address", "relay_ports"]
