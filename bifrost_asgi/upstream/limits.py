"""What an upstream may send back: a bound on a (decompressed) body and on how much a compressed
body may expand. Both upstream clients count as they read and stop at the first chunk past a
bound, so a hostile or broken upstream costs at most about one limit of memory."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UpstreamProtocolError

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class BodyLimits:
    max_bytes: int = 128 * MIB
    max_ratio: float = 200.0
    ratio_floor: int = MIB  # small bodies may expand as they like (a page of zeros is fine)

    @property
    def unchecked(self) -> int:
        """The decoded size up to which ``check`` passes, however few bytes came on the wire."""
        return min(self.max_bytes, self.ratio_floor)

    def check(self, size: int, wire: int, host: str) -> None:
        """Raise a 502 when ``size`` decoded bytes (``wire`` of them received) passed a bound."""
        if size > self.max_bytes:
            raise UpstreamProtocolError(
                f"upstream {host} sent a response larger than {self.max_bytes / MIB:g} MB "
                "(client.max_upstream_response_size_mb)"
            )
        if size > self.ratio_floor and size > wire * self.max_ratio:
            raise UpstreamProtocolError(
                f"upstream {host} sent a compressed response that expands more than {self.max_ratio:g} times "
                "(client.max_decompression_ratio)"
            )

    def check_declared(self, content_length: int | None, host: str) -> None:
        """Refuse before reading when the declared (on the wire) length is already past the bound."""
        if content_length is not None and content_length > self.max_bytes:
            self.check(content_length, content_length, host)
