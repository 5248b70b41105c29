"""The simulated board's world: a virtual clock and when the network is down.

The runner (run_board.py) configures it from its arguments before code.py starts; the stand-in
modules beside this file read it.
"""

from __future__ import annotations


class World:
    def __init__(self) -> None:
        self.now = 0.0
        self.net_down: list[tuple[float, float]] = []
        self.port = 443
        self.ssid = None
        self.password = None

    def network_up(self) -> bool:
        return not any(start <= self.now < end for start, end in self.net_down)


WORLD = World()
