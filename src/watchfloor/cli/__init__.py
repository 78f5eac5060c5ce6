"""The `watchfloor` command line: thin commands that parse options, call a service and print."""

from watchfloor.cli.app import cli, main

__all__ = ["cli", "main"]
