"""The connection-storm benchmark and its soak: ``python -m bench.storm``."""
