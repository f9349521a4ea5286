"""The management API under ``/api/governance/``: virtual keys, teams, customers, budgets and rate
limits (list, get, create, update, delete) and current usage. Enabled only when
``client.admin_token`` / ``BIFROST_ADMIN_TOKEN`` is set; the HTTP layer checks the token.

Pure request handling: ``handle(method, path, body)`` returns ``(status, json)``. Changes go through
``Governance.update`` (on Redis: compare-and-set on the shared document, so every replica sees them
within its sync interval). A virtual key's value is returned once, by the create call that made it
(generated as ``sk-bf-<uuid>`` when not given); lists and gets never show it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from .. import _json
from .admission import _limit
from .config import VK_PREFIX, GovernanceConfig, governance_problems
from .engine import Governance
from .index import LimitSpec

Json = dict[str, Any]
_TABLES = {
    "virtual-keys": "virtual_keys",
    "teams": "teams",
    "customers": "customers",
    "budgets": "budgets",
    "rate-limits": "rate_limits",
    "model-configs": "model_configs",
}
_HIDDEN = {"value", "env_var", "value_sha256", "value_prefixed"}


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class GovernanceApi:
    def __init__(self, governance: Governance, providers: Iterable[str], version: int) -> None:
        self.gov = governance
        self.providers = list(providers)
        self.version = version

    async def handle(self, method: str, path: str, body: bytes) -> tuple[int, Json]:
        try:
            return await self._route(method, [p for p in path.strip("/").split("/") if p], body)
        except ApiError as exc:
            return exc.status, {"error": {"message": exc.message, "type": "invalid_request_error"}}

    async def _route(self, method: str, parts: list[str], body: bytes) -> tuple[int, Json]:
        if self.gov.shared:
            await self.gov.sync()
        if parts == ["usage"] and method == "GET":
            return 200, {"usage": await self._usage(None)}
        if not parts or parts[0] not in _TABLES:
            raise ApiError(404, f"unknown resource; use one of: {', '.join(_TABLES)}, usage")
        table = _TABLES[parts[0]]
        if len(parts) == 1:
            if method == "GET":
                return 200, {parts[0]: [_public(item) for item in getattr(self.gov.config, table)]}
            if method == "POST":
                return await self._create(table, _object(body))
        elif len(parts) == 2:
            item_id = parts[1]
            if method == "GET":
                found = self._find(table, item_id)
                return 200, {**_public(found), "usage": await self._usage(table, item_id)}
            if method in ("PUT", "PATCH"):
                return await self._update(table, item_id, _object(body))
            if method == "DELETE":
                return await self._delete(table, item_id)
        elif len(parts) == 3 and parts[2] == "usage" and method == "GET":
            self._find(table, parts[1])
            return 200, {"usage": await self._usage(table, parts[1])}
        raise ApiError(405, f"{method} is not supported on /api/governance/{'/'.join(parts)}")

    def _find(self, table: str, item_id: str) -> BaseModel:
        for item in getattr(self.gov.config, table):
            if item.id == item_id:
                return item  # type: ignore[no-any-return]
        raise ApiError(404, f"{table.rstrip('s').replace('_', ' ')} {item_id!r} not found")

    async def _create(self, table: str, data: Json) -> tuple[int, Json]:
        created_value = None
        if table == "virtual_keys":
            data.setdefault("id", f"vk-{uuid.uuid4().hex[:12]}")
            if not data.get("value"):
                data["value"] = VK_PREFIX + str(uuid.uuid4())
            created_value = data["value"]
        if "id" not in data:
            raise ApiError(400, "id is required")
        if any(item.id == data["id"] for item in getattr(self.gov.config, table)):
            raise ApiError(409, f"{data['id']!r} already exists")
        config = await self._change(lambda gov: _with(gov, table, [*_dumped(gov, table), data]))
        item = next(i for i in getattr(config, table) if i.id == data["id"])
        out = _public(item)
        if created_value is not None:
            out["value"] = created_value  # shown once
        return 201, out

    async def _update(self, table: str, item_id: str, data: Json) -> tuple[int, Json]:
        self._find(table, item_id)
        data.pop("id", None)

        def change(gov: GovernanceConfig) -> GovernanceConfig:
            rows = [{**row, **data} if row["id"] == item_id else row for row in _dumped(gov, table)]
            return _with(gov, table, rows)

        config = await self._change(change)
        return 200, _public(next(i for i in getattr(config, table) if i.id == item_id))

    async def _delete(self, table: str, item_id: str) -> tuple[int, Json]:
        self._find(table, item_id)
        await self._change(lambda gov: _with(gov, table, [r for r in _dumped(gov, table) if r["id"] != item_id]))
        return 200, {"deleted": item_id}

    async def _change(self, change: Callable[[GovernanceConfig], GovernanceConfig]) -> GovernanceConfig:
        def checked(gov: GovernanceConfig) -> GovernanceConfig:
            updated = change(gov)
            problems = governance_problems(updated, self.providers)
            problems = [p for p in problems if not p[1].endswith("has no value")]
            if problems:
                raise ApiError(400, "; ".join(f"{path}: {message} (fix: {fix})" for path, message, fix in problems))
            return updated

        return await self.gov.update(checked)

    async def _usage(self, table: str | None, item_id: str | None = None) -> list[Json]:
        """Usage of every budget and rate limit (or those of one entity), from the counters."""
        gov = self.gov
        index = gov.index
        specs: dict[str, LimitSpec] = {}
        for vk in [None, *index.vks.values()]:
            if table == "virtual_keys" and (vk is None or vk.id != item_id):
                continue
            providers = {pc.provider for pc in vk.provider_configs} if vk else set(index.providers)
            for provider in providers or set(self.providers):
                for spec in index.limits(vk, provider, "*"):
                    specs.setdefault(spec.key, spec)
        if table in ("budgets", "rate_limits"):
            specs = {k: s for k, s in specs.items() if s.limit_id == item_id}
        elif table in ("teams", "customers", "model_configs"):
            name = self._find(table, item_id or "")
            label = getattr(name, "name", None) or getattr(name, "model_name", "")
            specs = {k: s for k, s in specs.items() if f"'{label}'" in s.owner}
        now = gov.now_ms()
        limits = [_limit(s, now) for s in specs.values()]
        readings = await gov.counters.read(limits, now) if limits else []
        out = []
        for spec, reading in zip(specs.values(), readings, strict=True):
            scale = 1e9 if spec.unit == "dollars" else 1
            out.append({"id": spec.limit_id, "kind": spec.kind, "unit": spec.unit, "owner": spec.owner,
                        "limit": spec.maximum / scale, "used": reading.used / scale,
                        "reserved": reading.reserved / scale, "reset_duration": spec.duration,
                        "calendar_aligned": spec.calendar})  # fmt: skip
        return out


def _object(body: bytes) -> Json:
    try:
        data = _json.loads(body) if body else {}
    except ValueError as exc:
        raise ApiError(400, f"body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "body must be a JSON object")
    return data


def _dumped(gov: GovernanceConfig, table: str) -> list[Json]:
    rows = []
    for item in getattr(gov, table):
        row = item.model_dump(mode="json", exclude_none=True)
        if table == "virtual_keys":  # keep the secret (or its digest) across the round trip
            value = item.value.get_secret_value()
            row["value"] = value
            if not value and item.value_sha256:
                row["value_sha256"], row["value_prefixed"] = item.value_sha256, item.value_prefixed
        rows.append(row)
    return rows


def _with(gov: GovernanceConfig, table: str, rows: list[Json]) -> GovernanceConfig:
    data = {name: _dumped(gov, name) for name in _TABLES.values()}
    data[table] = rows
    base = gov.model_dump(mode="json", exclude=set(_TABLES.values()) | {"store"}, exclude_none=True)
    try:
        updated = GovernanceConfig.model_validate({**base, **data})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ApiError(400, f"{where}: {first['msg']}") from None
    return updated.model_copy(update={"store": gov.store})


def _public(item: BaseModel) -> Json:
    return item.model_dump(mode="json", exclude=_HIDDEN)
