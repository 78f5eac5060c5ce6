"""Live listeners (syslog, Splunk HEC, `_bulk`, OTLP) and the decoders of their channels.

A listener only acknowledges: it turns what a client sent into `Envelope`s and hands them to the spool.
The spool's consumer later parses them with the `ChannelDecoder` registered here for each envelope's
channel. Contract of a decoder: `decode(envelopes, origin)` yields batches whose `positions` are the
0-based indexes of the envelopes they came from (the consumer turns them into spool sequence numbers),
and `Quarantined` items for envelopes it cannot parse, never an exception for bad data.

A new channel is one entry in `CHANNEL_DECODERS`.
"""

from __future__ import annotations

from collections.abc import Iterable

from watchfloor.ingest.channels import ChannelDecoder
from watchfloor.ingest.chunk_decoding import Decoders
from watchfloor.ingest.listeners.bulk import BULK_DECODER
from watchfloor.ingest.listeners.hec_decode import HEC_DECODER
from watchfloor.ingest.listeners.otlp import OTLP_DECODER
from watchfloor.ingest.listeners.syslog import SYSLOG_DECODER
from watchfloor.ingest.registry import default_registry
from watchfloor.schema import MappingRegistry

__all__ = ["CHANNEL_DECODERS", "channel_decoders", "live_decoders", "live_mappings"]

#: Every channel the spool's consumer can decode.
CHANNEL_DECODERS: tuple[ChannelDecoder, ...] = (
    SYSLOG_DECODER,
    HEC_DECODER,
    BULK_DECODER,
    OTLP_DECODER,
)


def channel_decoders(decoders: Iterable[ChannelDecoder] = CHANNEL_DECODERS) -> dict[str, ChannelDecoder]:
    """Decoders by channel name; two decoders for one channel is a programming error."""
    found: dict[str, ChannelDecoder] = {}
    for decoder in decoders:
        if decoder.channel in found:
            raise ValueError(f"channel {decoder.channel!r} has two decoders")
        found[decoder.channel] = decoder
    return found


def live_mappings(
    base: MappingRegistry, decoders: Iterable[ChannelDecoder] = CHANNEL_DECODERS
) -> MappingRegistry:
    """`base` (the file formats' mappings) plus those of live sources it does not declare yet."""
    declared = set(base.sources())
    for decoder in decoders:
        for mapping in decoder.mappings:
            if mapping.source not in declared:
                declared.add(mapping.source)
                base.register(mapping)
    return base


def live_decoders() -> Decoders:
    """Every channel's decoder and the mappings of files and live sources: what the consumer decodes with.

    A module-level function, so that a decoding worker process can build its own by name.
    """
    return Decoders(channel_decoders(), live_mappings(default_registry().mappings()))
