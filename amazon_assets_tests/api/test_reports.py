"""Competitive reports against a local server speaking the chat-completions protocol (the real
`openai` client over HTTP), on the planted PostgreSQL mart."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from amazon_assets.api.answers import today
from amazon_assets.api.mart import PostgresMartReader
from amazon_assets.api.services.common import Scope
from amazon_assets.api.services.reports import (
    SECTIONS,
    ReportError,
    report_inputs,
    write_report,
)
from amazon_assets.settings import Settings
from amazon_assets.sources.state import open_state_store
from amazon_assets_tests.api.conftest import bearer
from amazon_assets_tests.api.market import ACME, RIVALS

ANSWER = "Price position\nThe product is the cheapest of four.\n\nRank trend\nSteady."
API_KEY = "sk-local-test"
PROMPT_TOKENS, COMPLETION_TOKENS = 1200, 300


class ChatServer:
    """POST /v1/chat/completions answering ANSWER with fixed usage; records every request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        recorded = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    self._send(401, {"error": {"message": "bad key", "type": "invalid_api_key"}})
                    return
                recorded.append(body)
                self._send(
                    200,
                    {
                        "id": f"chatcmpl-{len(recorded)}",
                        "object": "chat.completion",
                        "created": 1,
                        "model": body["model"],
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": ANSWER},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": {
                            "prompt_tokens": PROMPT_TOKENS,
                            "completion_tokens": COMPLETION_TOKENS,
                            "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
                        },
                    },
                )

            def _send(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    with ChatServer() as server:
        yield server


@pytest.fixture
def reader(pg_api, pg_env) -> Iterator[PostgresMartReader]:
    mart = PostgresMartReader(pg_env["DATABASE_URL"])
    yield mart
    mart.close()


def llm_settings(pg_env: dict[str, str], **llm: str):
    return Settings.from_env({**pg_env, **llm}).llm


def acme_scope() -> Scope:
    return Scope(frozenset({"acme"}), today(), settle_days=0)


def test_the_prompt_carries_the_numbers_and_the_budget_stops_spending(
    reader, pg_env, chat, tmp_path
) -> None:
    llm = llm_settings(
        pg_env,
        LLM_BASE_URL=chat.url,
        LLM_API_KEY=API_KEY,
        LLM_MODEL="local-model",
        LLM_INPUT_COST_PER_MTOK="2",
        LLM_OUTPUT_COST_PER_MTOK="8",
        LLM_DAILY_BUDGET="0.009",  # one call costs 0.0048: the second passes, the third not
    )
    store = open_state_store(tmp_path / "state.sqlite")
    inputs = report_inputs(reader, acme_scope(), ACME[0])
    assert inputs["own_now"]["price"] == "19.99"
    assert [rival["asin"] for rival in inputs["competitors_now"]] == RIVALS

    first = write_report(llm, store, inputs, today())
    assert (first["writer"], first["model"], first["body"]) == ("llm", "local-model", ANSWER)
    assert (first["prompt_tokens"], first["completion_tokens"]) == (
        PROMPT_TOKENS,
        COMPLETION_TOKENS,
    )
    assert first["cost"] == pytest.approx(0.0048)
    sent = chat.requests[0]
    assert sent["model"] == "local-model"
    prompt = sent["messages"][1]["content"]
    for number in ('"19.99"', *RIVALS, '"competitor_median_price": 21.99', '"price_change"'):
        assert number in prompt, number
    assert all(section in sent["messages"][0]["content"] for section in SECTIONS)

    stored = store.competitive_reports("acme", ACME[0])[0]
    assert stored["report_id"] == first["report_id"] and stored["body"] == ANSWER
    assert json.loads(stored["inputs"]) == inputs and stored["cost"] == pytest.approx(0.0048)

    assert write_report(llm, store, inputs, today())["writer"] == "llm"
    assert store.spent(llm.provider, today().isoformat()) == pytest.approx(0.0096)
    third = write_report(llm, store, inputs, today())
    assert len(chat.requests) == 2  # the budget stopped the call
    assert third["writer"] == "template" and third["cost"] == 0
    assert third["note"].startswith(f"The daily budget of 0.009 for {llm.provider} is spent")
    assert third["body"].startswith(f"Competitive report for {ACME[0]}")


def test_without_a_provider_the_template_writes_it(reader, pg_env, tmp_path) -> None:
    store = open_state_store(tmp_path / "state.sqlite")
    inputs = report_inputs(reader, acme_scope(), ACME[0])
    report = write_report(llm_settings(pg_env), store, inputs, today())
    assert report["writer"] == "template" and report["model"] is None
    assert report["note"].startswith("No LLM provider is configured")
    assert all(f"\n{section}\n" in f"\n{report['body']}\n" for section in SECTIONS)
    assert "At 19.99 the product costs more than 0 of its 3 competitors" in report["body"]
    # Deterministic: the same numbers, the same words.
    assert write_report(llm_settings(pg_env), store, inputs, today())["body"] == report["body"]


def test_a_refused_key_is_one_sentence_and_stores_nothing(reader, pg_env, chat, tmp_path) -> None:
    llm = llm_settings(pg_env, LLM_BASE_URL=chat.url, LLM_API_KEY="wrong", LLM_MODEL="m")
    store = open_state_store(tmp_path / "state.sqlite")
    inputs = report_inputs(reader, acme_scope(), ACME[0])
    with pytest.raises(ReportError, match=r"refused LLM_API_KEY \(401\)"):
        write_report(llm, store, inputs, today())
    assert store.competitive_reports("acme", ACME[0]) == []
    assert store.spent(llm.provider, today().isoformat()) == 0


def test_reports_over_http_follow_the_tokens(pg_api, token) -> None:
    url = f"{pg_api.url}/v1/products/{ACME[0]}/report"
    written = httpx.post(url, headers=bearer(token("analyst", "acme")), timeout=60)
    assert written.status_code == 201, written.text
    assert written.json()["data"]["writer"] == "template"  # the server has no provider
    assert httpx.post(url, headers=bearer(token("viewer", "acme")), timeout=30).status_code == 403
    newest = httpx.get(url, headers=bearer(token("viewer", "acme")), timeout=30)
    assert newest.json()["data"]["report_id"] == written.json()["data"]["report_id"]
    assert httpx.get(url, headers=bearer(token("viewer", "globex")), timeout=30).status_code == 404
