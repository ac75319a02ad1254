"""The `kestrad` command: one module per command group, parsers in `parsers`.

`main` builds the parser (argparse only) and imports the chosen group's module alone, so
`kestrad validate` never loads the HTTP server and `kestrad run` never loads the API.
"""

from kestrad.cli.main import main

__all__ = ["main"]
