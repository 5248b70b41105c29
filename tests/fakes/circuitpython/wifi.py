"""Stand-in for CircuitPython's ``wifi``: a radio that joins the network named in the runner."""

from __future__ import annotations

from _sim import WORLD


class Radio:
    def __init__(self) -> None:
        self._joined = False
        self.joins = 0

    @property
    def ipv4_address(self):
        return "192.0.2.10" if self._joined and WORLD.network_up() else None

    @property
    def connected(self) -> bool:
        return self.ipv4_address is not None

    def connect(self, ssid, password=None, **_kw) -> None:
        self.joins += 1
        if not WORLD.network_up():
            self._joined = False
            raise ConnectionError("No network with that ssid")
        if ssid != WORLD.ssid or password != WORLD.password:
            raise ConnectionError("Authentication failure")
        self._joined = True


radio = Radio()
