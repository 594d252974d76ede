"""Serve the toolbar site on a free port of 127.0.0.1; print ``listening on PORT``.

WSGI (default): Django's own development server code, threaded (the
toolbar's panels load while the page does), static files served as
``runserver`` serves them. ``--asgi``: uvicorn, as an async site runs.
Port 0, so parallel test runs never collide.
"""

from __future__ import annotations

import os
import socket
import sys


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.toolbar_site.settings")
    import django

    django.setup()
    if "--asgi" in argv:
        serve_asgi()
    else:
        serve_wsgi()


def serve_wsgi() -> None:
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application

    httpd = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    httpd.set_app(StaticFilesHandler(get_wsgi_application()))
    print(f"listening on {httpd.server_port}", flush=True)
    try:
        httpd.serve_forever()
    finally:
        httpd.server_close()


def serve_asgi() -> None:
    import uvicorn
    from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
    from django.core.asgi import get_asgi_application

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)  # requests wait in the backlog until uvicorn accepts them
    print(f"listening on {sock.getsockname()[1]}", flush=True)
    app = ASGIStaticFilesHandler(get_asgi_application())
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_level="warning"))
    server.run(sockets=[sock])


if __name__ == "__main__":
    main(sys.argv[1:])
