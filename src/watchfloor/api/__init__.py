"""The HTTP side of Watchfloor: the API application and `serve`, which runs it with the listeners."""

from watchfloor.api.app import create_app
from watchfloor.api.serve import serve

__all__ = ["create_app", "serve"]
