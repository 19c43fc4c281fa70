"""Garbage-collector settings for a long-running server.

CPython's cyclic collector was the largest hidden cost of a call: in profiles with every feature
on, every module's share grew alike (the collector's work lands on whichever code allocates), and
freezing the heap cut the CPU per call by a quarter (bench/RESULTS.md). Every call
allocates a few hundred objects (protobufs, spans, log records, dicts), which triggers young
collections every 700 allocations, and the older generations then walk every object the process
holds — ~90 MB of imported modules, config and pools that live as long as the process. Freezing
what exists after startup moves it out of the collector's sight (it is still freed normally), and
larger thresholds make young collections rarer. bench/RESULTS.md has the before and after.
"""

from __future__ import annotations

import gc
import logging

from llmgateway.config import ServerSettings

_log = logging.getLogger(__name__)


def settle(settings: ServerSettings) -> None:
    """After startup or a reload: collect what the old state left, then freeze the rest and apply
    the configured thresholds. Calling it again unfreezes first, so a retired configuration
    (frozen at the previous call) can be collected."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    gc.set_threshold(*settings.gc_thresholds)
    _log.info(
        "garbage collector: %d long-lived objects frozen, thresholds %s",
        gc.get_freeze_count(),
        settings.gc_thresholds,
    )
