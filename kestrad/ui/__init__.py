"""The web UI: pages rendered on the server from Jinja2 templates, served by the daemon.

No build step and no CDN: templates and static files ship in this package; htmx (vendored,
see `static/VENDORED.md`) swaps the live parts, and a small script (`static/ui.js`) follows
the API's SSE streams and sends actions to the API, so a refused action shows the API's
own message. Reads go to the store through the engine, as the API's do.
"""
