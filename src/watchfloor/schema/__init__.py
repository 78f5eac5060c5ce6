"""The OCSF core and the declarations that map each source's producer fields onto it."""

from watchfloor.schema.core import CORE_COLUMN, CORE_FIELDS, CORE_SCHEMA, CORE_STRUCT, SEVERITY_NAMES
from watchfloor.schema.mapping import EventClass, MappingRegistry, SourceMapping
from watchfloor.schema.normalize import add_core
from watchfloor.schema.timeparse import parse_time, parse_times

__all__ = [
    "CORE_COLUMN",
    "CORE_FIELDS",
    "CORE_SCHEMA",
    "CORE_STRUCT",
    "SEVERITY_NAMES",
    "EventClass",
    "MappingRegistry",
    "SourceMapping",
    "add_core",
    "parse_time",
    "parse_times",
]
