"""Tests may only talk to this machine. An audit hook (the interpreter's own mechanism: no library is patched)
refuses any name lookup or connection to a host other than loopback, and records it so the test that tried
fails. `sitecustomize.py` beside this file installs the same hook in every Python process a test starts."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys

LOG_VARIABLE = "LOOPBACK_GUARD_LOG"  # where a test's child processes record their attempts
ATTEMPTS: list[str] = []  # this process's attempts, in order
LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", ""}


def is_loopback(host: object) -> bool:
    if host is None:
        return True
    name = host.decode() if isinstance(host, bytes) else str(host)
    name = name.strip("[]").split("%")[0].lower()
    if name in LOCAL_NAMES or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False  # any other name would need a DNS query that leaves the machine
    return address.is_loopback or address.is_unspecified  # 0.0.0.0 / :: reach this machine only


def _host(event: str, args: tuple) -> object:
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
        return args[0]
    if event in ("socket.connect", "socket.sendto"):
        sock, address = args[0], args[1]
        if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
            return address[0]
    return None


def _hook(event: str, args: tuple) -> None:
    if not event.startswith("socket."):
        return
    host = _host(event, args)
    if is_loopback(host):
        return
    attempt = f"{event} {host!r} (pid {os.getpid()}: {' '.join(sys.argv)[:200]})"
    ATTEMPTS.append(attempt)
    log = os.environ.get(LOG_VARIABLE)
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(attempt + "\n")
    raise ConnectionRefusedError(f"the test run's loopback guard refused {event} to {host!r}")


_installed = False


def install() -> None:
    global _installed
    if not _installed:
        sys.addaudithook(_hook)
        _installed = True
