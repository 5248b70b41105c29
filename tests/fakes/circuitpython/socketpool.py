"""Stand-in for CircuitPython's ``socketpool``: CPython sockets, Spotify's hosts on loopback."""

from __future__ import annotations

import socket as _socket

from _sim import WORLD


class SocketPool:
    AF_INET = _socket.AF_INET
    SOCK_STREAM = _socket.SOCK_STREAM
    SOCK_DGRAM = _socket.SOCK_DGRAM
    IPPROTO_TCP = _socket.IPPROTO_TCP
    SOL_SOCKET = _socket.SOL_SOCKET
    SO_REUSEADDR = _socket.SO_REUSEADDR
    TCP_NODELAY = _socket.TCP_NODELAY

    class gaierror(OSError):
        pass

    def __init__(self, radio) -> None:
        self.radio = radio

    def getaddrinfo(self, host, port, family=0, type=0, proto=0, flags=0):
        if self.radio.ipv4_address is None:
            raise self.gaierror(-2, "Name or service not known")
        return [(self.AF_INET, self.SOCK_STREAM, 0, "", ("127.0.0.1", WORLD.port))]

    def socket(self, family=_socket.AF_INET, type=_socket.SOCK_STREAM, proto=0):
        if self.radio.ipv4_address is None:
            raise OSError(113, "ECONNABORTED")
        return _socket.socket(family, type, proto)
