"""Model lists page the way each SDK pages: the Anthropic SDK's ``limit``/``after_id`` cursor and
google-genai's ``pageSize``/``pageToken`` pager walk the whole list one entry at a time."""

from __future__ import annotations

from collections.abc import Iterator

import anthropic
import pytest
from google import genai

from tests.support import FakeProvider, ServerHandle, run_gateway
from tests.support.fake_answers import FAKE_ANTHROPIC_MODELS, FAKE_GEMINI_MODELS

pytestmark = pytest.mark.e2e


@pytest.fixture
def gateway(fake_provider: FakeProvider) -> Iterator[ServerHandle]:
    providers = {
        "anthropic": {"keys": [{"value": "sk-ant"}], "network_config": {"base_url": fake_provider.url}},
        "gemini": {"keys": [{"value": "gm"}], "network_config": {"base_url": fake_provider.url + "/v1beta"}},
    }
    with run_gateway({"providers": providers}) as handle:
        yield handle


def test_anthropic_sdk_pages_with_limit_and_after_id(gateway: ServerHandle) -> None:
    client = anthropic.Anthropic(base_url=gateway.url + "/anthropic", api_key="k", max_retries=0)
    first = client.models.list(limit=1)
    assert len(first.data) == 1 and first.has_more is True
    walked = [m.id for m in client.models.list(limit=1)]  # auto-paging: one request per model
    everything = [m.id for m in client.models.list(limit=1000)]
    assert walked == everything and len(walked) > 1
    assert [m for m in walked if m in FAKE_ANTHROPIC_MODELS] == list(FAKE_ANTHROPIC_MODELS)


def test_genai_sdk_pages_with_page_size_and_token(gateway: ServerHandle) -> None:
    client = genai.Client(api_key="k", http_options={"base_url": gateway.url + "/genai", "api_version": "v1beta"})
    pager = client.models.list(config={"page_size": 1})
    assert len(pager.page) == 1
    names = [m.name for m in pager]
    assert [n for n in names if n and n.removeprefix("models/") in FAKE_GEMINI_MODELS] == [
        f"models/{m}" for m in FAKE_GEMINI_MODELS
    ]
