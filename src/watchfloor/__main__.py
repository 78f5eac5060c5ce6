"""`python -m watchfloor` runs the CLI."""

from watchfloor.cli import main

main()
