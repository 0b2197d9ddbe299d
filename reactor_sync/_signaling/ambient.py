"""What our HTTP requests take from the environment: proxies and CA bundle, never credentials.

WHY: requests, left to itself (``trust_env``), adds ``Authorization: Basic``
from ``~/.netrc`` (or ``$NETRC``) to any request without auth of its own, to
whatever host the URL names. An upload URL is chosen by the server, so a
hostile or mistaken server would collect the user's .netrc password for that
host; a coordinator would receive it beside the API key. Every session we
make has ``trust_env`` off, and the parts of the environment a user sets on
purpose, ``HTTP(S)_PROXY``/``NO_PROXY`` and ``REQUESTS_CA_BUNDLE``/
``CURL_CA_BUNDLE``, are passed explicitly with each request.
"""

from __future__ import annotations

import os
from typing import Any

import requests
import requests.utils

__all__ = ["environment_settings", "session_without_ambient_credentials"]


def session_without_ambient_credentials() -> requests.Session:
    """A requests.Session that reads nothing from the environment by itself (no .netrc)."""
    session = requests.Session()
    session.trust_env = False
    return session


def environment_settings(url: str) -> dict[str, Any]:
    """``proxies`` and ``verify`` for a request to ``url``, as the user's environment sets them."""
    proxies = requests.utils.get_environ_proxies(url, no_proxy=None)
    verify: str | bool = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return {"proxies": dict(proxies), "verify": verify}
