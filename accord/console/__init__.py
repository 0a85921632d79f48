"""The operations console: a web UI that each node serves at ``/console/`` (docs/console.md).

``routes`` (the FastAPI router, mounted by :func:`accord.api.app.create_app`), ``sessions``
(cookie sessions, CSRF, login rate limit), ``security`` (headers on every response), ``view``
(who sees what, page banners), ``events`` (the live stream, read from the audit ledger),
``i18n`` (English, Japanese, Korean), ``pages`` (Jinja2 rendering); ``templates/`` and
``static/`` (one CSS file, one JS file of our own).
"""
