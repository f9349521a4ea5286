"""What the real clouds check, done independently of the gateway's libraries.

* ``verify_sigv4``: recomputes an AWS Signature Version 4 from the request as received (method,
  raw path, query, the signed headers, the body's SHA-256) with the secret for the access key id,
  following AWS's published algorithm (non-S3 services URI-encode the path a second time), and
  checks the date scope and the 15-minute clock window. Written from the specification with
  hashlib/hmac, not botocore, so a signing bug in the gateway cannot hide behind the same code.
* ``ServiceAccount``: a test service account whose RSA key pair is generated at test time (no
  private key is committed); ``verify_assertion`` checks a JWT-bearer grant as Google's token
  endpoint does (RS256 signature with the public key, issuer, audience, scope, expiry).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"
_AUTH = re.compile(r"AWS4-HMAC-SHA256 Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$")


class AuthFailure(Exception):
    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


@dataclass(frozen=True)
class AwsIdentity:
    access_key: str
    secret_key: str
    session_token: str | None = None


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _canonical_query(query: str) -> str:
    pairs = sorted((quote(k, safe="-_.~"), quote(v, safe="-_.~")) for k, v in parse_qsl(query, keep_blank_values=True))
    return "&".join(f"{k}={v}" for k, v in pairs)


def verify_sigv4(
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
    identities: Mapping[str, AwsIdentity],
    service: str,
    now: float | None = None,
) -> AwsIdentity:
    """The identity that signed the request; ``AuthFailure`` (as AWS would answer) otherwise."""
    match = _AUTH.match(headers.get("authorization", ""))
    if match is None:
        raise AuthFailure(403, "IncompleteSignatureException", "Authorization header requires a SigV4 signature")
    credential, signed_names, signature = match.groups()
    access_key, date, region, scope_service, terminator = [*credential.split("/"), "", "", "", ""][:5]
    identity = identities.get(access_key)
    if identity is None:
        raise AuthFailure(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
    if scope_service != service or terminator != "aws4_request":
        raise AuthFailure(403, "InvalidSignatureException", f"credential scope must name service {service!r}")
    amz_date = headers.get("x-amz-date", "")
    try:
        signed_at = dt.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    except ValueError:
        raise AuthFailure(403, "IncompleteSignatureException", "X-Amz-Date is missing or malformed") from None
    if not amz_date.startswith(date):
        raise AuthFailure(403, "InvalidSignatureException", "credential date does not match X-Amz-Date")
    if abs(signed_at.timestamp() - (now if now is not None else time.time())) > 900:
        raise AuthFailure(403, "InvalidSignatureException", "Signature expired")
    names = signed_names.split(";")
    if "host" not in names or "x-amz-date" not in names:
        raise AuthFailure(403, "InvalidSignatureException", "host and x-amz-date must be signed")
    if identity.session_token is not None and headers.get("x-amz-security-token") != identity.session_token:
        raise AuthFailure(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
    canonical_headers = "".join(f"{n}:{' '.join(headers.get(n, '').split())}\n" for n in names)
    canonical_request = "\n".join(
        [
            method,
            quote(path, safe="/~"),  # the path as received, encoded once more (non-S3 rule)
            _canonical_query(query),
            canonical_headers,
            signed_names,
            hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{identity.secret_key}".encode(), date), region), service), "aws4_request")
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise AuthFailure(
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided.",
        )
    return identity


# --------------------------------------------------------------------------- Google


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class ServiceAccount:
    """A service account made for one test run; ``info`` is its JSON key file as a dict."""

    token_uri: str
    client_email: str = "gateway-test@fake-project.iam.gserviceaccount.com"
    project_id: str = "fake-project"
    _key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )

    @property
    def info(self) -> dict[str, Any]:
        pem = self._key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        return {
            "type": "service_account",
            "project_id": self.project_id,
            "private_key_id": "fake-key-1",
            "private_key": pem,
            "client_email": self.client_email,
            "client_id": "1234567890",
            "token_uri": self.token_uri,
        }

    def verify_assertion(self, assertion: str, *, now: float | None = None) -> dict[str, Any]:
        """The JWT's claims when Google's token endpoint would accept it; ``AuthFailure`` otherwise."""
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header = json.loads(_b64url_decode(header_b64))
            claims = json.loads(_b64url_decode(claims_b64))
            signature = _b64url_decode(signature_b64)
        except ValueError:
            raise AuthFailure(400, "invalid_grant", "Invalid JWT: malformed") from None
        if header.get("alg") != "RS256":
            raise AuthFailure(400, "invalid_grant", "Invalid JWT: alg must be RS256")
        try:
            self._key.public_key().verify(
                signature, f"{header_b64}.{claims_b64}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
        except Exception:
            raise AuthFailure(400, "invalid_grant", "Invalid JWT Signature.") from None
        current = now if now is not None else time.time()
        # Google wants its own token endpoint as the audience, wherever the request was sent.
        if claims.get("iss") != self.client_email or claims.get("aud") != GOOGLE_TOKEN_AUDIENCE:
            raise AuthFailure(400, "invalid_grant", "Invalid JWT: iss or aud")
        if "https://www.googleapis.com/auth/cloud-platform" not in str(claims.get("scope", "")).split():
            raise AuthFailure(400, "invalid_scope", "the cloud-platform scope is required")
        if not (claims.get("iat", 0) - 300 <= current <= claims.get("exp", 0)) or claims["exp"] - claims["iat"] > 3600:
            raise AuthFailure(400, "invalid_grant", "Invalid JWT: Token must be a short-lived token")
        return dict(claims)
