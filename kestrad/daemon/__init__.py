"""`kestrad serve`: the long-running daemon around one engine (signals, logging, systemd)."""
