"""Connection strings are named without their secrets in errors and logs, through one function,
:func:`accord.logs.without_passwords`: a URL's password, a token given as a URL's whole user
information (``nats://TOKEN@host``, nats-py's token authentication), and libpq's ``password=`` /
``sslpassword=`` as a URL's query parameter (``postgresql://user@host/db?password=…``) or a
connection string's keyword. Before, only ``user:password@`` was recognised: a NATS token was
logged at INFO on every start (``event bridge on … (NATS nats://TOKEN@host)``) and printed in
``cannot connect to NATS at …``."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accord.feeds.nats_connect import nats_shown
from accord.logs import redact, without_passwords
from accord.store.postgres import redact as pg_redact
from accord.store.postgres import scrub

SECRET = "s3cr3t-T0ken"


@pytest.mark.parametrize("text, shown", [
    # a token as the whole user information: all of it goes
    (f"nats://{SECRET}@nats.example:4222", "nats://[redacted]@nats.example:4222"),
    (f"tls://{SECRET}@a:4222,tls://{SECRET}@b:4222", "tls://[redacted]@a:4222,tls://[redacted]@b:4222"),
    (f"https://{SECRET}@git.example/x", "https://[redacted]@git.example/x"),
    (f"event bridge on accord.> (NATS nats://{SECRET}@n1:4222)", "event bridge on accord.> (NATS nats://[redacted]@n1:4222)"),
    # a user and a password: the user stays; an '@' in the password is the authority's last one
    (f"nats://ops:{SECRET}@n1:4222", "nats://ops:[redacted]@n1:4222"),
    (f"postgresql://accord:p@ss{SECRET}@db/x", "postgresql://accord:[redacted]@db/x"),
    (f"postgresql://accord:{SECRET}@[::1]:5432/x", "postgresql://accord:[redacted]@[::1]:5432/x"),
    ("nats://ops:@n1", "nats://ops:[redacted]@n1"),
    ("nats://@n1", "nats://[redacted]@n1"),
    # a PostgreSQL URL's user alone is a user name, not a secret
    ("postgresql://accord@db/accord_jpn", "postgresql://accord@db/accord_jpn"),
    ("postgres://accord@db", "postgres://accord@db"),
    # libpq's password parameters in a URL's query, whatever their place and case
    (f"postgresql://accord@db/x?password={SECRET}", "postgresql://accord@db/x?password=[redacted]"),
    (f"postgresql://accord@db/x?sslmode=require&PASSWORD={SECRET}&connect_timeout=2",
     "postgresql://accord@db/x?sslmode=require&PASSWORD=[redacted]&connect_timeout=2"),
    (f"postgresql://db/x?sslpassword={SECRET}#frag", "postgresql://db/x?sslpassword=[redacted]#frag"),
    ("postgresql://db/x?password=", "postgresql://db/x?password=[redacted]"),
    # a connection string's keywords: bare, quoted (spaces, escapes), spaced around '='
    (f"host=db user=accord password={SECRET} dbname=x", "host=db user=accord password=[redacted] dbname=x"),
    (f"host=db password = '{SECRET} two\\' words' dbname=x", "host=db password = [redacted] dbname=x"),
    (f'password="{SECRET} x"', "password=[redacted]"),
    (f"--password={SECRET}", "--password=[redacted]"),
    (f"password='{SECRET} never closed", "password=[redacted]"),
    # nothing secret: unchanged
    ("https://api.jpn.example/federation/v1/heads", "https://api.jpn.example/federation/v1/heads"),
    ("https://host/path?email=a@b.example", "https://host/path?email=a@b.example"),
    ("nats://10.10.1.31:4222 told ops@example.org", "nats://10.10.1.31:4222 told ops@example.org"),
    ("the password was refused", "the password was refused"),
    ("passwords=3 mypassword=x", "passwords=3 mypassword=x"),
    ("", ""),
])
def test_connection_secrets_are_redacted_and_the_rest_kept(text, shown):
    assert without_passwords(text) == shown
    assert redact(text) == shown or SECRET not in redact(text)


def test_nats_and_postgresql_name_their_urls_through_it():
    url = f"nats://{SECRET}@nats.example:4222"
    assert nats_shown(url) == "nats://[redacted]@nats.example:4222"
    assert pg_redact(f"postgresql://accord@db.example/accord?password={SECRET}") == (
        "postgresql://accord@db.example/accord?password=[redacted]")


def test_a_password_parameter_libpq_quotes_in_its_error_is_scrubbed():
    url = "postgresql://accord@db/x?sslmode=require&password=pa%2Fss+w"
    text = 'invalid token "pa%2Fss+w" ("pa/ss+w", "pa/ss w")'
    assert scrub(text, url) == 'invalid token "***" ("***", "***")'


# "Q" + …: no scheme, host or surrounding text has a Q, so a secret never matches what is meant to stay
_SECRETS = st.text(string.ascii_letters + string.digits + "-_.~!$'()*+,;=%", min_size=8, max_size=40).map("Q".__add__)
_HOSTS = st.sampled_from(["db", "10.0.0.1:5432", "[::1]:4222", "n1,n2:4222"])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(secret=_SECRETS, host=_HOSTS, scheme=st.sampled_from(["nats", "tls", "https", "postgresql"]),
       before=st.sampled_from(["", "error: ", "at (", "url="]), after=st.sampled_from(["", " failed", ")", "/db"]))
def test_a_url_s_password_or_token_never_shows(secret, host, scheme, before, after):
    for url in (f"{scheme}://user:{secret}@{host}", f"{scheme}://user:{secret}@{secret[:3]}@{host}"):
        shown = without_passwords(f"{before}{url}{after}")
        assert secret not in shown and host in shown and "user:[redacted]@" in shown
    if scheme != "postgresql":
        shown = without_passwords(f"{before}{scheme}://{secret}@{host}{after}")
        assert secret not in shown and f"{scheme}://[redacted]@{host}" in shown


@settings(max_examples=300, deadline=None, derandomize=True)
@given(secret=st.text(string.ascii_letters + string.digits + "-_.~!$%*+,;:@/", min_size=8, max_size=40).map("Q".__add__),
       key=st.sampled_from(["password", "PASSWORD", "sslpassword"]),
       rest=st.sampled_from(["", "&sslmode=require", "#x", " and more"]))
def test_a_password_parameter_never_shows(secret, key, rest):
    shown = without_passwords(f"postgresql://accord@db/x?sslmode=require&{key}={secret}{rest}")
    assert secret not in shown and f"{key}=[redacted]{rest}" in shown
    shown = without_passwords(f"host=db {key}={secret} dbname=x")
    assert secret not in shown and shown == f"host=db {key}=[redacted] dbname=x"


@pytest.mark.parametrize("url", ["postgresql://accord:pw@db/x", "postgresql://accord@db/x?password=pw",
                                 "postgresql://accord@db/x?sslmode=require&SSLPASSWORD=pw"])
def test_a_store_url_carrying_a_password_is_refused_as_node_yaml_would_keep_it(url):
    from accord.errors import InputError
    from accord.node.node import check_store_url

    with pytest.raises(InputError, match="carries a password"):
        check_store_url(url)
    check_store_url("postgresql://accord@db/x?sslmode=require")
