"""The OpenAI-compatible answerer through the real ``openai`` client against a local chat-completions server:
images and prompts on the wire, strict parsing (unparseable counted), retries after server errors, deadlines,
API keys; the server is stopped after."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from harness.errors import CrossviewError
from harness.probe.answerers import make_answerer
from harness.probe.runner import run_probe
from harness.probe.store import ProbeStore
from tests.probe.runs import small_probe
from tests.servers.chat_server import ChatServer

pytest.importorskip("openai", reason="the openai client is not installed: pip install 'crossview-harness[probe]'",
                    exc_type=ImportError)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """A probe set generated once; the tests add answerers to it (answerers do not change which items exist)."""
    out = tmp_path_factory.mktemp("chat")
    run_probe(small_probe(), out)
    return out


@pytest.fixture
def server():
    s = ChatServer(key="sk-test", slow_s=1.0)
    yield s
    s.close()


def _vlm(name: str, model: str, url: str, **options) -> dict:
    return {"name": name, "kind": "openai",
            "options": {"base_url": url, "model": model, "api_key_env": "PROBE_TEST_KEY", **options}}


def test_endpoint_answers_are_sent_parsed_retried_and_timed_out(server, generated, monkeypatch) -> None:
    monkeypatch.setenv("PROBE_TEST_KEY", "sk-test")
    config = small_probe([_vlm("say-a", "letter-a", server.url, concurrency=4),
                          _vlm("babbler", "babble", server.url),
                          _vlm("flaky", "flaky", server.url, concurrency=3),
                          _vlm("slow", "slow", server.url, timeout_s=0.3, concurrency=8)])
    outcome = run_probe(config, generated)
    assert outcome.items_new == 0
    with ProbeStore(outcome.run_dir, create=False) as store:
        items = {r["item_id"]: r for r in store.items()}
        answers = store.answers()
        attempts = store.attempts()
    n = len(items)
    assert n > 0
    by = {}
    for a in answers:
        if a["answerer"] in ("random", "oracle"):
            continue
        by.setdefault(a["answerer"], []).append(a)
    assert all(a["status"] == "answered" and a["choice"] == 0 and a["correct"] == int(items[a["item_id"]]["answer"]
                                                                                     == 0) for a in by["say-a"])
    assert all(a["status"] == "unparseable" and a["choice"] is None and a["correct"] is None for a in by["babbler"])
    assert all(a["status"] == "answered" and a["attempts"] == 2 and a["choice"] == 1 for a in by["flaky"])
    assert all(a["status"] == "error" and "Timeout" in a["error"] for a in by["slow"])
    flaky_ids = {a["answer_id"] for a in by["flaky"]}
    assert sum(1 for t in attempts if t["answer_id"] in flaky_ids) == n  # one 500 each, then answered
    assert sum(1 for t in attempts if "InternalServerError" in t["reason"]) == n
    # what reached the server: the prompt with its lettered choices and every image of the item, as PNGs
    said = [r for r in server.requests if r["model"] == "letter-a"]
    assert len(said) == n
    expected = sorted((len(r["images"]), r["question"]) for r in items.values())
    assert sorted((len(r["images"]), r["text"].split("\n")[0]) for r in said) == expected
    assert all("(A) " in r["text"] and "Reply with the letter" in r["text"] and r["max_tokens"] == 16 for r in said)
    assert outcome.exit_code == 1  # the slow model's answers are errors


def test_wrong_key_is_an_error_not_a_guess(server, generated, monkeypatch) -> None:
    monkeypatch.setenv("PROBE_TEST_KEY", "sk-wrong")
    outcome = run_probe(small_probe([_vlm("nokey", "letter-a", server.url)]), generated)
    with ProbeStore(outcome.run_dir, create=False) as store:
        answers = [a for a in store.answers() if a["answerer"] == "nokey"]
    assert answers and all(a["status"] == "error" and "AuthenticationError" in a["error"] for a in answers)
    # a 401 fails every attempt alike and the client itself never retries it: one attempt each, none retried
    assert all(a["attempts"] == 1 for a in answers)


def test_endpoint_config_errors_are_one_line(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("PROBE_TEST_KEY", raising=False)
    with pytest.raises(CrossviewError, match="PROBE_TEST_KEY"):
        run_probe(small_probe([_vlm("vlm", "m", "http://127.0.0.1:9/v1")]), tmp_path)
    monkeypatch.setenv("PROBE_TEST_KEY", "k")
    with pytest.raises(CrossviewError, match="base_url"):
        run_probe(small_probe([_vlm("vlm", "m", "127.0.0.1:9")]), tmp_path)
    with pytest.raises(CrossviewError, match="bad options"):
        run_probe(small_probe([_vlm("vlm", "m", "http://127.0.0.1:9/v1", colour="red")]), tmp_path)


def test_empty_choices_are_errors_and_null_content_is_unparseable(server, generated, monkeypatch) -> None:
    """A 200 with no choices is a broken endpoint (an error after retries), not an unparseable model reply;
    ``content: null`` (chat_completion_message.py:60, Optional) is the model saying nothing: unparseable."""
    monkeypatch.setenv("PROBE_TEST_KEY", "sk-test")
    outcome = run_probe(small_probe([_vlm("empty", "no-choices", server.url),
                                     _vlm("mute", "null-content", server.url)]), generated)
    with ProbeStore(outcome.run_dir, create=False) as store:
        answers = store.answers()
    empty = [a for a in answers if a["answerer"] == "empty"]
    mute = [a for a in answers if a["answerer"] == "mute"]
    assert empty and all(a["status"] == "error" and "EmptyCompletion" in a["error"] for a in empty)
    assert mute and all(a["status"] == "unparseable" and a["choice"] is None for a in mute)
    assert outcome.exit_code == 1


def test_image_detail_outside_the_clients_literal_is_one_line(monkeypatch) -> None:
    monkeypatch.setenv("PROBE_TEST_KEY", "k")
    with pytest.raises(CrossviewError, match="detail 'ultra'"):
        make_answerer("vlm", "openai", {"base_url": "http://127.0.0.1:9/v1", "model": "m",
                                        "api_key_env": "PROBE_TEST_KEY", "detail": "ultra"})


def test_server_reads_requests_as_the_reference_defines_them(server) -> None:
    """String content and system messages are valid requests (the real client sends them as given); a body that
    is not JSON, or a part of an unknown type, is a 400 with the reference's error object, not a dropped
    connection; the client maps it to BadRequestError (openai-python src/openai/_client.py:642-644, 3.54.0)."""
    import openai

    client = openai.OpenAI(api_key="sk-test", base_url=server.url, max_retries=0, timeout=10)
    try:
        done = client.chat.completions.create(model="letter-a", messages=[
            {"role": "system", "content": "Answer with one letter."}, {"role": "user", "content": "Say A"}])
        assert done.choices[0].message.content == "A" and done.choices[0].finish_reason == "stop"
        with pytest.raises(openai.BadRequestError) as bad:
            client.chat.completions.create(model="letter-a", messages=[
                {"role": "user", "content": [{"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}]}])
        assert bad.value.status_code == 400 and bad.value.type == "invalid_request_error"
    finally:
        client.close()
    request = urllib.request.Request(server.url + "/chat/completions", data=b"{not json", method="POST",
                                     headers={"Authorization": "Bearer sk-test", "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    body = json.loads(err.value.read())
    err.value.close()
    assert err.value.code == 400 and set(body["error"]) == {"message", "type", "param", "code"}
