"""Watchfloor: an open-source security operations platform.

The package is layered (see ARCHITECTURE.md): the core modules here (`errors`, `config`, `events`)
are imported by everything else and import nothing from the subpackages.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
