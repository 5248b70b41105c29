"""needledrop: Spotify now-playing for HUB75 LED panels."""

__version__ = "0.1.0"
