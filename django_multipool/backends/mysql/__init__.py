"""MySQL/MariaDB backend: Django's own, with mysqlclient, pooled."""
