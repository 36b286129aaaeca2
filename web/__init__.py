"""The Starlette API over the repositories."""
