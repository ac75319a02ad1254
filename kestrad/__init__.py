"""kestrad: a single-process daemon that runs Kestra's YAML flows."""

# The one place the version is written: pyproject.toml reads it from here.
__version__ = "0.2.0"
