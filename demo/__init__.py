"""An example Django site on PostgreSQL, and the load test that compares four ways to pool it.

``python -m demo`` picks a server (the DSN, a local one, else an embedded
PostgreSQL 18), runs the site as Django without a pool, with Django's pool
and with ours in both release modes, under uvicorn and under
``gunicorn --preload``, and prints what the clients and the server saw.
"""
