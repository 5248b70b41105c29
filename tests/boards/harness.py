"""Boot simulated boards (tests/fakes/circuitpython/run_board.py) against the fake Spotify."""

from __future__ import annotations

import datetime
import ipaddress
import json
import shutil
import ssl
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "tests" / "fakes" / "circuitpython" / "run_board.py"
HOSTS = ("accounts.spotify.com", "api.spotify.com")


def make_ca(directory: Path) -> tuple[Path, ssl.SSLContext]:
    """A throw-away CA and a server certificate for Spotify's host names (never committed)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "needledrop test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOSTS[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(h) for h in HOSTS]
                + [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem = directory / "ca.pem"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    chain = directory / "server.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem = directory / "server.key"
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key_pem)
    return ca_pem, context


@dataclass
class Boot:
    rc: int
    console: str
    screens: list[dict]

    def texts(self) -> list[str]:
        return [" / ".join(s["texts"]) for s in self.screens]

    def first(self, text: str) -> dict | None:
        return next((s for s in self.screens if text in " / ".join(s["texts"])), None)

    @property
    def last(self) -> dict:
        return self.screens[-1]


class Board:
    """A board drive directory with its NVM, booted as many times as a test wants."""

    def __init__(self, drive: Path, nvm: Path, ca: Path) -> None:
        self.drive = drive
        self.nvm = nvm
        self.ca = ca
        self.boots = 0

    @classmethod
    def copy_of(cls, template: Path, tmp: Path, ca: Path) -> Board:
        drive = tmp / "CIRCUITPY"
        shutil.copytree(template, drive)
        return cls(drive, tmp / "nvm.bin", ca)

    def set_setting(self, key: str, value: str) -> None:
        """Edit settings.toml the way a user would by hand (one line, last one wins)."""
        path = self.drive / "settings.toml"
        path.write_text(path.read_text() + f'{key} = "{value}"\n')

    def boot(
        self, fake, seconds: float = 30, net_down: tuple[str, ...] = (), expect_rc: int = 0
    ) -> Boot:
        """Run code.py for ``seconds`` of virtual time; a board that crashes (an exit status
        other than ``expect_rc``) fails the test here, whichever boot of the test it is."""
        self.boots += 1
        log = self.drive.parent / f"screen-{self.boots}.jsonl"
        args = [
            sys.executable,
            str(RUNNER),
            "--drive",
            str(self.drive),
            "--nvm",
            str(self.nvm),
            "--port",
            str(fake.port),
            "--ca",
            str(self.ca),
            "--seconds",
            str(seconds),
            "--log",
            str(log),
        ]
        for window in net_down:
            args += ["--net-down", window]
        proc = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
        screens = (
            [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
        )
        boot = Boot(proc.returncode, proc.stdout + proc.stderr, screens)
        assert boot.rc == expect_rc, f"board exited {boot.rc}:\n{boot.console[-3000:]}"
        return boot
