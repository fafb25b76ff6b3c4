"""Tests of the engine: sources, batches, limits, clocks and faults through real loads."""
