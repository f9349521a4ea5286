"""Google OAuth access tokens for Vertex AI, cached and refreshed off the event loop.

A key's ``vertex_key_config.auth_credentials`` is a service-account JSON key (text or object;
``env.`` values resolved at load); empty means application default credentials (ADC:
``GOOGLE_APPLICATION_CREDENTIALS``, gcloud's user credentials, the GCE/GKE/Cloud Run metadata
server). ``google-auth`` mints the tokens; minting is blocking I/O, so it runs in a worker thread,
one refresh at a time per credential, and a token is reused until ``REFRESH_MARGIN_SECONDS``
before it expires (Google's last about an hour).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from ..config.settings import KeyConfig
from ..errors import ConfigError, UpstreamError
from .base import UpstreamRequest

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
REFRESH_MARGIN_SECONDS = 300.0


class TokenSource(Protocol):
    async def token(self) -> str: ...


class GoogleCredentials(Protocol):
    """The part of ``google.auth.credentials.Credentials`` used here."""

    token: str | None
    expiry: Any  # naive UTC datetime or None

    def refresh(self, request: Any) -> None: ...


def service_account_info(value: Any, where: str) -> dict[str, Any] | None:
    """``auth_credentials`` as a service-account dict; ``None`` for ADC; a ``ConfigError`` naming
    ``where`` when it is not a service-account key."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise ConfigError(f"{where}: not valid JSON (expected a service-account key file's content)") from None
    if not isinstance(value, dict) or value.get("type") != "service_account":
        raise ConfigError(f'{where}: expected a service-account key ({{"type": "service_account", ...}})')
    missing = [name for name in ("client_email", "private_key", "token_uri") if not value.get(name)]
    if missing:
        raise ConfigError(f"{where}: the service-account key has no {', '.join(missing)}")
    return value


def _load(info: Mapping[str, Any] | None) -> Callable[[], GoogleCredentials]:
    """A factory for the credentials (called in the worker thread: ADC discovery may do I/O)."""
    try:
        import google.auth
        import google.auth.transport.requests
        from google.oauth2 import service_account
    except ImportError:
        raise ConfigError("Vertex AI needs google-auth: pip install 'bifrost-asgi[vertex]'") from None

    def make() -> GoogleCredentials:
        if info is not None:
            factory = service_account.Credentials.from_service_account_info
            credentials: GoogleCredentials = factory(dict(info), scopes=list(SCOPES))  # type: ignore[no-untyped-call]
            return credentials
        found, _project = google.auth.default(scopes=list(SCOPES))
        return found

    return make


def _http_request() -> Any:
    import google.auth.transport.requests

    return google.auth.transport.requests.Request()


class GoogleTokens:
    """One credential's access token, minted on first use and refreshed before it expires."""

    def __init__(
        self,
        make_credentials: Callable[[], GoogleCredentials],
        *,
        clock: Callable[[], float] = time.time,
        margin: float = REFRESH_MARGIN_SECONDS,
        http_request: Callable[[], Any] = _http_request,
    ) -> None:
        self._make = make_credentials
        self._clock = clock
        self._margin = margin
        self._http_request = http_request
        self._credentials: GoogleCredentials | None = None
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = asyncio.Lock()

    def _fresh(self) -> str | None:
        if self._token is not None and self._expires_at - self._margin > self._clock():
            return self._token
        return None

    async def token(self) -> str:
        token = self._fresh()
        if token is not None:
            return token
        async with self._lock:  # one refresh at a time; the others wait for it and reuse it
            token = self._fresh()
            if token is None:
                token = await asyncio.to_thread(self._refresh)
            return token

    def _refresh(self) -> str:
        try:
            if self._credentials is None:
                self._credentials = self._make()
            credentials = self._credentials
            credentials.refresh(self._http_request())
        except Exception as exc:
            detail = str(exc).splitlines()[0][:200] if str(exc) else ""
            raise UpstreamError(
                f"getting a Google access token failed ({type(exc).__name__}{': ' + detail if detail else ''})",
                status=401,
                kind="authentication",
            ) from None
        if not credentials.token:
            raise UpstreamError("Google returned no access token", status=401, kind="authentication")
        expiry = credentials.expiry
        # google-auth keeps expiry as a naive UTC datetime; no expiry: assume Google's usual hour.
        if expiry is not None:
            self._expires_at = expiry.replace(tzinfo=datetime.UTC).timestamp()
        else:
            self._expires_at = self._clock() + 3600
        self._token = credentials.token
        return credentials.token


class VertexAuth:
    """``RequestAuth`` for Vertex: ``Authorization: Bearer`` with the key's credential's token.
    ``sources`` maps a credential (its service-account JSON, ``""`` for ADC) to its token source;
    tests inject their own."""

    def __init__(self, provider: str, sources: Mapping[str, TokenSource]) -> None:
        self._provider = provider
        self._sources = dict(sources)

    async def authorize(self, request: UpstreamRequest, key: KeyConfig | None) -> UpstreamRequest:
        source = self._sources.get(credential_id(key))
        if source is None:  # a key added after start-up: not expected with static config
            raise UpstreamError(f"{self._provider}: no credentials for this key", status=401, kind="authentication")
        headers = {**request.headers, "authorization": f"Bearer {await source.token()}"}
        return UpstreamRequest(request.method, request.url, headers, request.body, stream=request.stream)


def credential_id(key: KeyConfig | None) -> str:
    value = ((key.vertex_key_config if key is not None else None) or {}).get("auth_credentials")
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return value.strip() if isinstance(value, str) else ""


def token_sources(provider: str, keys: list[KeyConfig]) -> dict[str, TokenSource]:
    """One ``GoogleTokens`` per distinct credential among ``keys`` (validated now, at start-up)."""
    sources: dict[str, TokenSource] = {}
    for key in keys:
        ident = credential_id(key)
        if ident in sources:
            continue
        where = f"providers.{provider}.keys[{key.label}].vertex_key_config.auth_credentials"
        info = service_account_info((key.vertex_key_config or {}).get("auth_credentials"), where)
        sources[ident] = GoogleTokens(_load(info))
    return sources
