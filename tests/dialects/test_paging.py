"""Model-list pages: Anthropic's limit/after_id/before_id and GenAI's pageSize/pageToken."""

from __future__ import annotations

import pytest

from bifrost_asgi.dialects.paging import anthropic_page, genai_page
from bifrost_asgi.errors import InvalidRequestError

ITEMS = [{"id": f"m{i}"} for i in range(5)]


def ids(page: list[dict[str, str]]) -> list[str]:
    return [item["id"] for item in page]


def test_anthropic_limit_and_cursors() -> None:
    assert anthropic_page(ITEMS, {}) == (ITEMS, False)
    page, more = anthropic_page(ITEMS, {"limit": "2"})
    assert (ids(page), more) == (["m0", "m1"], True)
    page, more = anthropic_page(ITEMS, {"limit": "2", "after_id": "m3"})
    assert (ids(page), more) == (["m4"], False)
    page, more = anthropic_page(ITEMS, {"limit": "2", "before_id": "m3"})
    assert (ids(page), more) == (["m1", "m2"], True)


@pytest.mark.parametrize(
    ("query", "field"),
    [({"limit": "0"}, "limit"), ({"limit": "x"}, "limit"), ({"after_id": "nope"}, "after_id"),
     ({"after_id": "m1", "before_id": "m2"}, "after_id")],
)
def test_anthropic_bad_paging_is_a_400_naming_the_field(query: dict[str, str], field: str) -> None:
    with pytest.raises(InvalidRequestError, match=field):
        anthropic_page(ITEMS, query)


def test_genai_page_size_and_tokens_walk_the_whole_list() -> None:
    seen: list[dict[str, str]] = []
    token: str | None = ""
    while token is not None:
        page, token = genai_page(ITEMS, {"pageSize": "2", "pageToken": token})
        seen += page
    assert seen == ITEMS
    assert genai_page(ITEMS, {}) == (ITEMS, None)
    with pytest.raises(InvalidRequestError, match="pageToken"):
        genai_page(ITEMS, {"pageToken": "abc"})
