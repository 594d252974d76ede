"""An example Django site on django-multipool, and the load test that drives it.

``python -m demo`` migrates the demo database, serves the site with uvicorn,
drives it with concurrent clients and prints what the server and the pool saw.
"""
