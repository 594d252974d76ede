"""MySQL/MariaDB backend on mysql-connector-python's Django backend, pooled."""
