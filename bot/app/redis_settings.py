"""``WHEELWATCH_REDIS_URL`` as arq's :class:`~arq.connections.RedisSettings`: the one place
the web process (``bot.app.server_redis``) and the worker (``bot.app.worker``) read it.

arq's ``RedisSettings.from_dsn`` keeps the scheme, host, port, database and credentials (not
percent-decoded: they are decoded here) but drops the rest of the query, where redis-py
reads its TLS options. A ``rediss://`` URL with ``?ssl_cert_reqs=none`` (Heroku Redis, whose
certificate is self-signed) then passed the start-up check (redis-py's, on the URL) and
failed in arq's connection. These are the options as redis-py reads them, but
``ssl_cert_reqs`` in any case; the start-up check (``server_redis.unreachable``) connects
with them too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import parse_qs, unquote, urlsplit

from arq.connections import RedisSettings

# redis-py's names for ssl.CERT_NONE, CERT_OPTIONAL and CERT_REQUIRED, as it spells them.
CERT_REQS = ("none", "optional", "required")
# The values redis-py's to_bool reads as it does; anything else is refused, not guessed.
BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


@dataclass(frozen=True)
class Tls:
    """The TLS options of the URL's query; the defaults are arq's and redis-py's."""

    cert_reqs: str = "required"
    ca_certs: str | None = None
    check_hostname: bool = False


def tls_options(url: str) -> Tls:
    """The URL's TLS options; ValueError naming the option (never the URL: it may hold a
    password) when one has a value redis-py would refuse or misread."""
    query = parse_qs(urlsplit(url).query, keep_blank_values=True)
    tls = Tls()
    if "ssl_cert_reqs" in query:
        cert_reqs = query["ssl_cert_reqs"][-1]
        # In any case (NONE, as ssl.CERT_NONE is spelt), handed on as redis-py spells it.
        if cert_reqs.lower() not in CERT_REQS:
            raise ValueError(
                "ssl_cert_reqs in WHEELWATCH_REDIS_URL must be none, optional or required, "
                f"got {cert_reqs!r}"
            )
        tls = replace(tls, cert_reqs=cert_reqs.lower())
    if "ssl_ca_certs" in query:
        ca_certs = query["ssl_ca_certs"][-1]
        if not ca_certs:
            raise ValueError("ssl_ca_certs in WHEELWATCH_REDIS_URL must name a file")
        tls = replace(tls, ca_certs=ca_certs)
    if "ssl_check_hostname" in query:
        check_hostname = BOOLEANS.get(query["ssl_check_hostname"][-1].lower())
        if check_hostname is None:
            raise ValueError("ssl_check_hostname in WHEELWATCH_REDIS_URL must be true or false")
        tls = replace(tls, check_hostname=check_hostname)
    if tls.check_hostname and tls.cert_reqs == "none":
        # Python's ssl refuses the pair with a ValueError at the first connection.
        raise ValueError(
            "WHEELWATCH_REDIS_URL cannot both check the host name (ssl_check_hostname) "
            "and skip the certificate (ssl_cert_reqs=none)"
        )
    return tls


def redis_settings(url: str) -> RedisSettings:
    """arq's settings for ``url``, with its TLS options."""
    tls = tls_options(url)
    settings = RedisSettings.from_dsn(url)
    return replace(
        settings,
        # from_dsn leaves them percent-encoded (a password may hold '@', ':' or '/'), as
        # redis-py's from_url does not.
        username=None if settings.username is None else unquote(settings.username),
        password=None if settings.password is None else unquote(settings.password),
        ssl_cert_reqs=tls.cert_reqs,
        ssl_ca_certs=tls.ca_certs,
        ssl_check_hostname=tls.check_hostname,
    )
