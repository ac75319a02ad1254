"""Python modules put on the path of `scripts.python.*` tasks (see `kestra.py`)."""
