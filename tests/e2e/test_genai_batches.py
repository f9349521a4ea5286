"""GenAI batches through the google-genai SDK (``client.batches.create`` with inline requests,
``get``, ``list``, ``cancel``, ``delete``), forwarded same-vendor to the gemini provider with the
gateway's keys: the fake validates the request like the real API and 404s a batch asked for with
another key, so each later call shows it reached the key that created the batch."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from google import genai
from google.genai import errors, types

from tests.support import FakeProvider, ServerHandle, run_gateway
from tests.support.fake_genai_batches import FakeGenAIBatches

pytestmark = pytest.mark.e2e

KEYS = ["gm-key-one", "gm-key-two"]
CLIENT_KEY = "client-key-never-upstream"
INLINE: list[types.InlinedRequestOrDict] = [
    {"contents": [{"role": "user", "parts": [{"text": "hello"}]}], "metadata": {"key": "a"}},
    {"contents": [{"role": "user", "parts": [{"text": "again"}]}], "metadata": {"key": "b"}},
]


@pytest.fixture
def batches(fake_provider: FakeProvider) -> FakeGenAIBatches:
    return FakeGenAIBatches().install(fake_provider)


@pytest.fixture
def gateway(fake_provider: FakeProvider, batches: FakeGenAIBatches) -> Iterator[ServerHandle]:
    gemini = {"keys": [{"name": f"k{i}", "value": v} for i, v in enumerate(KEYS)],
              "network_config": {"base_url": fake_provider.url + "/v1beta"}}  # fmt: skip
    openai = {"keys": [{"name": "o", "value": "sk-openai"}], "network_config": {"base_url": fake_provider.url + "/v1"}}
    with run_gateway({"providers": {"gemini": gemini, "openai": openai}}) as handle:
        yield handle


def _client(gateway: ServerHandle) -> genai.Client:
    options = types.HttpOptions(base_url=gateway.url + "/genai", api_version="v1beta")
    return genai.Client(api_key=CLIENT_KEY, http_options=options)


def test_batches_create_get_list_cancel_stay_with_the_creating_key(
    fake_provider: FakeProvider, gateway: ServerHandle, batches: FakeGenAIBatches
) -> None:
    client = _client(gateway)
    job = client.batches.create(model="gemini-2.5-flash", src=INLINE, config={"display_name": "nightly"})
    assert job.name and job.name.startswith("batches/")
    assert job.state == types.JobState.JOB_STATE_PENDING and job.display_name == "nightly"
    assert job.model == "models/gemini-2.5-flash"
    created = fake_provider.last(":batchGenerateContent")
    assert created.path == "/v1beta/models/gemini-2.5-flash:batchGenerateContent"
    owner = created.headers["x-goog-api-key"]
    assert owner in KEYS
    for _ in range(6):  # two keys: each read must reach the creating key (the fake 404s the other)
        assert client.batches.get(name=job.name).name == job.name
    assert fake_provider.last("/batches/").headers["x-goog-api-key"] == owner
    client.batches.cancel(name=job.name)
    assert client.batches.get(name=job.name).state == types.JobState.JOB_STATE_CANCELLED
    listed = [b.name for b in client.batches.list(config={"page_size": 10})]
    assert set(listed) <= {job.name} and fake_provider.last("/v1beta/batches").method == "GET"
    client.batches.delete(name=job.name)
    listed_by_query_key = httpx.get(gateway.url + "/genai/v1beta/batches", params={"key": CLIENT_KEY})
    assert listed_by_query_key.status_code == 200  # the fake refuses any ?key=: the client's was not sent
    assert not any(CLIENT_KEY in v for r in fake_provider.requests for v in [*r.headers.values(), *r.query.values()])


def test_a_provider_named_model_and_errors_in_genai_shape(
    fake_provider: FakeProvider, gateway: ServerHandle
) -> None:
    client = _client(gateway)
    job = client.batches.create(model="gemini/gemini-2.5-flash", src=INLINE)
    assert fake_provider.last(":batchGenerateContent").path.endswith("/models/gemini-2.5-flash:batchGenerateContent")
    assert job.model == "models/gemini-2.5-flash"
    with pytest.raises(errors.ClientError) as caught:  # the upstream's own error, relayed
        client.batches.create(model="gemini/no-such-model", src=INLINE)
    assert caught.value.code == 404 and "models/no-such-model" in str(caught.value.message)
    with pytest.raises(errors.ClientError) as missing:
        client.batches.get(name="batches/never-made")
    assert missing.value.code == 404
    with pytest.raises(errors.ClientError) as wrong:  # only a gemini-format provider takes GenAI batches
        client.batches.create(model="openai/gpt-4o-mini", src=INLINE)
    assert wrong.value.code == 400 and "openai" in str(wrong.value.message)


def _inline(*models: str | None) -> list[types.InlinedRequestOrDict]:
    items: list[types.InlinedRequestOrDict] = []
    for model in models:
        item: types.InlinedRequestDict = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
        if model is not None:
            item["model"] = model
        items.append(item)
    return items


def test_inline_requests_models_are_rewritten_to_the_upstream_name(
    fake_provider: FakeProvider, gateway: ServerHandle
) -> None:
    client = _client(gateway)
    src = _inline("gemini/gemini-2.5-flash", None, "gemini-2.5-pro", "models/gemini/gemini-2.0-flash")
    client.batches.create(model="gemini/gemini-2.5-flash", src=src)
    sent = fake_provider.last(":batchGenerateContent").json["batch"]["inputConfig"]["requests"]["requests"]
    assert [item["request"].get("model") for item in sent] == [
        "models/gemini-2.5-flash", None, "models/gemini-2.5-pro", "models/gemini-2.0-flash",
    ]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("openai/gpt-4o-mini", "requests[1].request.model: 'openai/gpt-4o-mini' routes to provider 'openai'"),
        ("bad model", "requests[1].request.model: a model name is printable ASCII"),
        ("gemini/" + "x" * 300, "requests[1].request.model: a model name has at most 256 characters"),
    ],
)
def test_inline_request_models_that_cannot_go_with_the_batch_are_refused_before_upstream(
    fake_provider: FakeProvider, gateway: ServerHandle, model: str, expected: str
) -> None:
    client = _client(gateway)
    with pytest.raises(errors.ClientError) as caught:
        client.batches.create(model="gemini-2.5-flash", src=_inline(None, model))
    assert caught.value.code == 400 and expected in str(caught.value.message)
    assert not any(r.path.endswith(":batchGenerateContent") for r in fake_provider.requests)


def test_an_inline_model_walking_a_path_is_refused_in_genai_shape(
    fake_provider: FakeProvider, gateway: ServerHandle
) -> None:  # the SDK refuses '..' itself: plain HTTP over the socket
    request = {"contents": [{"parts": [{"text": "hi"}]}], "model": "models/gemini/../../files"}
    body = {"batch": {"inputConfig": {"requests": {"requests": [{"request": request}]}}}}
    answer = httpx.post(gateway.url + "/genai/v1beta/models/gemini-2.5-flash:batchGenerateContent", json=body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and "requests[0].request.model" in error["message"]
    assert not fake_provider.requests
