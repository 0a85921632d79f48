"""Connection strings are "named without the password" in errors and logs, but only the
``user:password@`` form is recognised. A NATS token in the URL (``nats://TOKEN@host``, nats-py's
token authentication) and a PostgreSQL password given as a query parameter
(``postgresql://user@host/db?password=…``, libpq's URI form) are printed and logged in clear —
e.g. ``event bridge on … (NATS nats://TOKEN@host)`` at INFO on every start (accord/feeds/events.py)
and ``cannot connect to NATS at …``."""

from __future__ import annotations

from accord.feeds.jetstream import nats_shown
from accord.logs import redact
from accord.store.postgres import redact as pg_redact


def test_a_nats_token_in_the_url_is_not_shown():
    url = "nats://s3cr3t-t0ken@nats.example:4222"
    assert "s3cr3t-t0ken" not in nats_shown(url), nats_shown(url)
    assert "s3cr3t-t0ken" not in redact(f"event bridge on accord.> (NATS {url})")


def test_a_postgresql_password_given_as_a_parameter_is_not_shown():
    url = "postgresql://accord@db.example/accord?password=hunter2"
    assert "hunter2" not in pg_redact(url), pg_redact(url)
    assert "hunter2" not in redact(f"cannot connect to {url}")
