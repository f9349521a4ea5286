"""Weighted random key selection (Bifrost semantics: weights as integer hundredths; all zero = uniform)."""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence

from ..config.settings import KeyConfig


def key_allows(key: KeyConfig, model: str, *, keyless: bool) -> bool:
    """Enabled, not blacklisted, listed in ``models`` (or no list), has a value unless keyless,
    and for Azure-style keys with ``deployments`` the model must be one of them."""
    if not key.allows(model):
        return False
    if not keyless and not key.has_credentials:
        return False
    azure = key.azure_key_config
    return not (azure is not None and azure.deployments and model not in azure.deployments)


def eligible_keys(keys: Sequence[KeyConfig], model: str, *, keyless: bool) -> list[int]:
    return [i for i, key in enumerate(keys) if key_allows(key, model, keyless=keyless)]


def scoped_keys(keys: Sequence[KeyConfig], pinned: str | None, batch: bool, *, keyless: bool) -> list[int]:
    """Keys for a call that names no model: the ``pinned`` one (by label) only, else every enabled
    key with credentials — for batch and file calls those marked ``use_for_batch_api`` when any is."""
    usable = [i for i, key in enumerate(keys) if key.enabled and (keyless or key.has_credentials)]
    if pinned is not None:
        return [i for i in usable if keys[i].label == pinned]
    if batch:
        marked = [i for i in usable if keys[i].use_for_batch_api]
        return marked or usable
    return usable


def pick_weighted(candidates: Sequence[int], keys: Sequence[KeyConfig], rng: random.Random) -> int:
    """One index out of ``candidates``, chosen with probability proportional to its key's weight."""
    if len(candidates) == 1:
        return candidates[0]
    weights = [int(keys[i].weight * 100) for i in candidates]
    total = sum(weights)
    if total <= 0:
        return candidates[rng.randrange(len(candidates))]
    point = rng.randrange(total)
    for index, weight in zip(candidates, weights, strict=True):
        point -= weight
        if point < 0:
            return index
    return candidates[-1]  # pragma: no cover - unreachable with integer weights


def select_key(
    keys: Sequence[KeyConfig],
    candidates: Sequence[int],
    rng: random.Random,
    *,
    exclude: Collection[int] = (),
    cooling: Collection[int] = (),
) -> int | None:
    """Pick among ``candidates`` minus ``exclude``; keys in ``cooling`` are used only when nothing else is left."""
    open_keys = [i for i in candidates if i not in exclude and i not in cooling]
    if open_keys:
        return pick_weighted(open_keys, keys, rng)
    cooled = [i for i in candidates if i not in exclude]
    if cooled:
        return pick_weighted(cooled, keys, rng)
    return None
