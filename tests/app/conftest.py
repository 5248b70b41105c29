"""Fixtures for the app tests: a loopback fake Spotify and a source aimed at it."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: `import fakes`

from fakes.spotify import FakeSpotify
from needledrop.config import Config, PathsConfig, SpotifyConfig
from needledrop.spotify import SpotifySource


@pytest.fixture
def fake() -> Iterator[FakeSpotify]:
    with FakeSpotify() as server:
        yield server


@pytest.fixture
def spotify_cfg(fake: FakeSpotify) -> SpotifyConfig:
    return SpotifyConfig(
        client_id=fake.client_id,
        client_secret=fake.client_secret,
        redirect_uri="http://127.0.0.1:8765/callback",
        accounts_url=fake.url,
        api_url=fake.api_url,
    )


@pytest.fixture
def token_path(tmp_path: Path, fake: FakeSpotify) -> Path:
    """A token cache holding a valid grant from the fake server."""
    path = tmp_path / "state" / "spotify-token.json"
    path.parent.mkdir()
    path.write_text(json.dumps(fake.grant() | {"authorized_at": 1_760_000_000}))
    path.chmod(0o600)
    return path


@pytest.fixture
def make_source(
    spotify_cfg: SpotifyConfig, token_path: Path
) -> Iterator[Callable[..., SpotifySource]]:
    made: list[SpotifySource] = []

    def make(**overrides: object) -> SpotifySource:
        timeout = float(overrides.pop("timeout", 5.0))  # type: ignore[arg-type]
        cfg = SpotifyConfig(**{**spotify_cfg.__dict__, **overrides})  # type: ignore[arg-type]
        src = SpotifySource(cfg, token_path, timeout=timeout)
        made.append(src)
        return src

    yield make
    for src in made:
        src.close()


@pytest.fixture
def cfg(tmp_path: Path) -> Config:
    """A runner's config: every path under tmp_path, a client id and secret that reach nothing."""
    return Config(
        paths=PathsConfig(
            token_cache=tmp_path / "token.json",
            state_dir=tmp_path / "state",
            cache_dir=tmp_path / "cache",
        ),
        spotify=SpotifyConfig(client_id="fake-client-id", client_secret="s"),
    )
