"""The benchmark suite: ``python -m bench.<entry point>``; see bench/README.md."""
