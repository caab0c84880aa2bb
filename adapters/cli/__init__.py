"""The command line: `smsledger ...` (main), the demo it runs, the audit it prints."""

from smsledger.adapters.cli.main import main

__all__ = ["main"]
