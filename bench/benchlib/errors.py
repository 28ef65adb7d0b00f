"""The one exception the benchmark library raises; scripts turn it into an exit code."""

from __future__ import annotations


class BenchError(Exception):
    """A benchmark step failed; the message is one line for the operator."""
