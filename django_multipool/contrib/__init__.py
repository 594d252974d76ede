"""Optional integrations; each module needs its own extra (see pyproject.toml)."""
