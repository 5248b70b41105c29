"""Stand-in for ``microcontroller``: ``nvm`` of fixed size, kept in a file across reboots."""

from __future__ import annotations

import os

NVM_SIZE = 8192


class NVM:
    """Like CircuitPython's nvm.ByteArray: fixed length, slice writes must keep the length."""

    def __init__(self, path: str, size: int = NVM_SIZE) -> None:
        self.path = path
        self.size = size
        if not os.path.exists(path):
            with open(path, "wb") as handle:
                handle.write(b"\xff" * size)

    def _data(self) -> bytearray:
        with open(self.path, "rb") as handle:
            return bytearray(handle.read())

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, index):
        data = self._data()
        return bytearray(data[index]) if isinstance(index, slice) else data[index]

    def __setitem__(self, index, value) -> None:
        data = self._data()
        if isinstance(index, slice):
            start, stop, step = index.indices(self.size)
            if step != 1 or len(value) != stop - start:
                raise ValueError("Slice and value different lengths.")
            data[start:stop] = bytes(value)
        else:
            data[index] = value
        with open(self.path, "wb") as handle:
            handle.write(data)


nvm = NVM(os.environ.get("FAKE_NVM_PATH", "nvm.bin"))
