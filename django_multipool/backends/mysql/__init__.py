"""MySQL/MariaDB backend: mysql-connector-python's Django backend, pooled."""
