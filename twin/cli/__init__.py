"""The ``larp-twin`` command line: one parser tree (``main``), with sub-commands grouped by job."""

from twin.cli.main import main

__all__ = ["main"]
