"""larp-twin runtime: clock, lab, campaign runner, results, export, CLI and analysis."""

__version__ = "0.1.0"
