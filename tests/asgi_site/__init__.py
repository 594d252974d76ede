"""A minimal Django site for tests/test_asgi.py, served by uvicorn in a child process.

Vendor-neutral: the whole DATABASES["default"] entry comes from the
environment as JSON (``MULTIPOOL_ASGI_DATABASE``), so the same site runs on
every vendor the tests have a server for.
"""
