"""`python -m watchfloor` runs the CLI."""

from watchfloor.cli import main

if __name__ == "__main__":  # only when run: importing the module (a tool, a worker) starts nothing
    main()
