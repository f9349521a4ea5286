"""Bedrock credentials and SigV4 signing.

A key's ``bedrock_key_config`` (Bifrost's fields, ``env.`` values resolved at load):
``access_key``, ``secret_key``, ``session_token`` (static credentials), ``region``, ``arn`` (an
inference-profile ARN prefix: the model id sent is ``{arn}/{deployment}``) and ``deployments``
(model name -> Bedrock model id or inference-profile id). Without ``access_key`` the standard AWS
chain is used (environment, shared config/SSO profiles, web identity, ECS and EC2 roles), resolved
by botocore off the event loop and re-resolved before temporary credentials expire. A key with a
``value`` and no ``access_key`` is a Bedrock API key, sent as ``Authorization: Bearer``.

Signing uses botocore's ``SigV4Auth`` (AWS's own implementation, and the credential chain comes
with it) over the exact URL, headers and body bytes that are then sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from ..config.settings import KeyConfig
from ..errors import ConfigError, GatewayError, UpstreamError
from ..wire.converse import SIGNING_SERVICE
from .base import UpstreamRequest

DEFAULT_REGION = "us-east-1"
REFRESH_MARGIN_SECONDS = 300.0


class AwsCredentials(NamedTuple):
    access_key: str
    secret_key: str
    token: str | None = None
    expires_at: float | None = None  # epoch seconds, for temporary credentials


@dataclass(frozen=True, slots=True)
class BedrockKey:
    region: str
    credentials: AwsCredentials | None = None  # None: the default chain (or an API key)
    api_key: str | None = None
    arn: str | None = None
    deployments: Mapping[str, str] = field(default_factory=dict)

    def model_id(self, model: str) -> str:
        deployment = self.deployments.get(model, model)
        return f"{self.arn.rstrip('/')}/{deployment}" if self.arn else deployment


def _text(config: Mapping[str, Any], name: str) -> str | None:
    value = config.get(name)
    return value.strip() if isinstance(value, str) and value.strip() else None


def bedrock_key(key: KeyConfig | None, default_region: str | None, provider: str) -> BedrockKey:
    """The key's Bedrock settings; a half-configured static credential is an error naming the field."""
    config = (key.bedrock_key_config if key is not None else None) or {}
    region = _text(config, "region") or default_region or DEFAULT_REGION
    access, secret = _text(config, "access_key"), _text(config, "secret_key")
    if (access is None) != (secret is None):
        missing = "secret_key" if secret is None else "access_key"
        label = key.label if key is not None else "..."
        raise GatewayError(
            f"providers.{provider}.keys[{label}].bedrock_key_config.{missing} is not set (or its env. variable is "
            "empty): static AWS credentials need both access_key and secret_key; leave both out to use the AWS "
            "default credential chain",
            status=500,
            provider=provider,
        )
    deployments = config.get("deployments")
    credentials = AwsCredentials(access, secret, _text(config, "session_token")) if access and secret else None
    api_key = key.value.get_secret_value() if key is not None and credentials is None else ""
    return BedrockKey(
        region=region,
        credentials=credentials,
        api_key=api_key or None,
        arn=_text(config, "arn"),
        deployments={str(k): str(v) for k, v in deployments.items()} if isinstance(deployments, dict) else {},
    )


class CredentialSource(Protocol):
    async def credentials(self) -> AwsCredentials: ...


class DefaultCredentialChain:
    """The standard AWS credential chain through botocore, resolved in a worker thread (it may read
    files or call the instance metadata service) and cached until shortly before it expires."""

    def __init__(
        self,
        resolve: Callable[[], AwsCredentials | None] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        margin: float = REFRESH_MARGIN_SECONDS,
    ) -> None:
        self._resolve = resolve or _botocore_chain()
        self._clock = clock
        self._margin = margin
        self._cached: AwsCredentials | None = None
        self._lock = asyncio.Lock()

    def _fresh(self) -> AwsCredentials | None:
        cached = self._cached
        if cached is None or (cached.expires_at is not None and cached.expires_at - self._margin <= self._clock()):
            return None
        return cached

    async def credentials(self) -> AwsCredentials:
        cached = self._fresh()
        if cached is not None:
            return cached
        async with self._lock:  # one resolution at a time; the others reuse its result
            cached = self._fresh()
            if cached is None:
                try:
                    cached = await asyncio.to_thread(self._resolve)
                except Exception as exc:
                    raise _auth_error(f"resolving AWS credentials failed ({type(exc).__name__})") from None
                if cached is None:
                    raise _auth_error(
                        "no AWS credentials: set bedrock_key_config access_key/secret_key, or configure the "
                        "AWS default chain (AWS_ACCESS_KEY_ID, AWS_PROFILE, an instance or task role)"
                    )
                self._cached = cached
            return cached


def _auth_error(message: str) -> UpstreamError:
    return UpstreamError(message, status=401, kind="authentication")


def _botocore_chain() -> Callable[[], AwsCredentials | None]:
    """A resolver over one botocore session, created on first use (in the worker thread)."""
    sessions: list[Any] = []

    def resolve() -> AwsCredentials | None:
        import botocore.session

        if not sessions:
            sessions.append(botocore.session.Session())
        found = sessions[0].get_credentials()
        if found is None:
            return None
        frozen = found.get_frozen_credentials()  # refreshes temporary credentials when needed
        expiry = getattr(found, "_expiry_time", None)
        return AwsCredentials(
            frozen.access_key, frozen.secret_key, frozen.token, expiry.timestamp() if expiry is not None else None
        )

    return resolve


def sign(request: UpstreamRequest, credentials: AwsCredentials, region: str) -> UpstreamRequest:
    """``request`` with SigV4 ``Authorization``, ``X-Amz-Date`` (and ``X-Amz-Security-Token``)."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    aws = AWSRequest(method=request.method, url=request.url, data=request.body or b"", headers=dict(request.headers))
    SigV4Auth(
        Credentials(credentials.access_key, credentials.secret_key, credentials.token), SIGNING_SERVICE, region
    ).add_auth(aws)
    headers = {name.lower(): str(value) for name, value in aws.headers.items()}
    return UpstreamRequest(request.method, request.url, headers, request.body, stream=request.stream)


class BedrockAuth:
    """``RequestAuth`` for Bedrock: SigV4 with the key's or the chain's credentials, or a bearer API key."""

    def __init__(self, provider: str, default_region: str | None, chain: CredentialSource | None = None) -> None:
        self._provider = provider
        self._default_region = default_region
        self._chain = chain
        try:
            import botocore.auth  # noqa: F401
        except ImportError:
            raise ConfigError(
                f"providers.{provider}: Bedrock needs botocore for SigV4 signing: pip install 'bifrost-asgi[bedrock]'"
            ) from None

    def _default_chain(self) -> CredentialSource:
        if self._chain is None:
            self._chain = DefaultCredentialChain()
        return self._chain

    async def authorize(self, request: UpstreamRequest, key: KeyConfig | None) -> UpstreamRequest:
        config = bedrock_key(key, self._default_region, self._provider)
        if config.api_key:
            headers = {**request.headers, "authorization": f"Bearer {config.api_key}"}
            return UpstreamRequest(request.method, request.url, headers, request.body, stream=request.stream)
        credentials = config.credentials or await self._default_chain().credentials()
        return sign(request, credentials, config.region)
