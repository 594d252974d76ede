"""The storm bench's Django site: two views, one table, DATABASES from the environment.

Vendor- and pool-neutral: ``python -m bench.storm`` serves it under uvicorn
once per configuration, passing the whole ``DATABASES["default"]`` entry as JSON
in ``STORM_DATABASE``.
"""
