"""Competitive reports: an own ASIN against its competitors, written by an LLM or a template.

The numbers come from the same services the API answers with (competitors now, the daily gaps,
the own series, the alerts); the writer gets them in the prompt and only words them. With an
OpenAI-compatible provider configured (`LLM_BASE_URL`, `LLM_MODEL`, `LLM_API_KEY`), the `openai`
client asks it; without one, or once the provider's daily budget is spent, a deterministic
template writes the same sections. Every report is stored (state store) with its inputs, the
prompt, the writer, model, tokens and cost.
"""

from __future__ import annotations

import time
import uuid
from datetime import date, timedelta
from typing import Any

import orjson

from amazon_assets.api.answers import dumps
from amazon_assets.api.mart import MartReader
from amazon_assets.api.services import alerts, competitors, products
from amazon_assets.api.services.common import Scope
from amazon_assets.settings import LlmSettings
from amazon_assets.sources.state import StateStore

WEEK_DAYS = 7
TREND_DAYS = 28
SECTIONS = (
    "Price position",
    "Rank trend",
    "Review gap",
    "What changed this week",
    "Suggested actions",
)
SYSTEM_PROMPT = (
    "You are an Amazon marketplace analyst writing for a seller. Use only the numbers given; "
    "never invent any. Write plain text with exactly these sections, each a heading line then "
    "two to four sentences: " + "; ".join(SECTIONS) + "."
)
_TIMEOUT_SECONDS = 60.0


class ReportError(RuntimeError):
    """The provider refused or could not be reached; the message is one sentence."""


def report_inputs(
    reader: MartReader, scope: Scope, asin: str, account: str | None = None
) -> dict[str, Any]:
    """What a report is written from, as the API answers it (JSON types: money as strings)."""
    now = competitors.product_competitors(reader, scope, asin, account)["data"]
    account = now["account"]
    last = scope.today - timedelta(days=1)
    first = last - timedelta(days=TREND_DAYS - 1)
    gaps = competitors.competition_gaps(reader, scope, asin, first, last, account)["data"]
    own = products.product_metrics(
        reader, scope, asin, first, last, ["bsr", "units_ordered", "price"], account
    )["data"]
    week = alerts.list_alerts(reader, scope, last - timedelta(days=WEEK_DAYS - 1), asin=asin)
    inputs = {
        "account": account,
        "asin": asin,
        "as_of": last,
        "own_now": now["own"],
        "competitors_now": now["competitors"],
        "latest_gaps": now["latest_gaps"],
        "gaps_by_day": gaps["series"],
        "own_by_day": own["series"],
        "alerts_this_week": week["data"],
    }
    return orjson.loads(dumps(inputs))


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _first_last(rows: list[dict[str, Any]], field: str) -> tuple[dict | None, dict | None]:
    """The first and the last row that has `field`."""
    observed = [row for row in rows if row.get(field) is not None]
    return (observed[0], observed[-1]) if observed else (None, None)


def template_report(inputs: dict[str, Any]) -> str:
    """The same sections as the LLM's, worded by rules from the same numbers."""
    own, rivals, gaps = inputs["own_now"], inputs["competitors_now"], inputs["latest_gaps"] or {}
    prices = [p for p in (_number(r.get("price")) for r in rivals) if p is not None]
    price = _number(own.get("price"))
    if price is None or not prices:
        position = "Not enough prices to place this product against its competitors."
    else:
        cheaper = sum(1 for p in prices if p < price)
        position = (
            f"At {own['price']} the product costs more than {cheaper} of its {len(prices)} "
            f"competitors (their prices {min(prices):.2f} to {max(prices):.2f})"
        )
        if gaps.get("price_gap") is not None:
            position += f", {gaps['price_gap']:+.1%} against their median"
        position += "."
    first_row, last_row = _first_last(inputs["own_by_day"], "bsr")
    first_bsr = first_row["bsr"] if first_row else None
    last_bsr = last_row["bsr"] if last_row else None
    if first_row is None or last_row is None:
        rank = "No Best Seller Rank was observed over the last four weeks."
    else:
        direction = (
            "improved" if last_bsr < first_bsr else "worsened" if last_bsr > first_bsr else "held"
        )
        rank = (
            f"The Best Seller Rank {direction} from {first_bsr} on {first_row['report_date']} to "
            f"{last_bsr} on {last_row['report_date']}"
        )
        if gaps.get("competitor_median_bsr") is not None:
            rank += f"; the competitors' median is {gaps['competitor_median_bsr']:.0f}"
        rank += "."
    reviews = own.get("review_count")
    rival_reviews = [r["review_count"] for r in rivals if r.get("review_count") is not None]
    if reviews is None or not rival_reviews:
        review = "Not enough review counts to compare."
    else:
        review = (
            f"{reviews} reviews against {min(rival_reviews)} to {max(rival_reviews)} for the "
            f"competitors (gap to their median {gaps.get('review_gap', 0) or 0:+.0f})"
        )
        if own.get("rating") is not None:
            review += f"; rated {own['rating']}"
        review += "."
    week = inputs["alerts_this_week"]
    changed = (
        "; ".join(
            f"{a['report_date']}: {a['kind'].replace('_', ' ')} {a['before']} -> {a['after']}"
            for a in week
        )
        + "."
        if week
        else "No alerts this week."
    )
    actions = []
    if price is not None and prices and price > max(prices):
        actions.append("check whether the price premium over every competitor is intended")
    if first_bsr is not None and last_bsr is not None and last_bsr > first_bsr:
        actions.append("look into the rank loss (traffic, stock, buy box)")
    if reviews is not None and rival_reviews and reviews < min(rival_reviews):
        actions.append("work on reviews: the product has the fewest")
    if not actions:
        actions.append("keep the current course and watch the alerts")
    body = [position, rank, review, changed, "Suggested: " + "; ".join(actions) + "."]
    header = f"Competitive report for {inputs['asin']} ({inputs['account']}), {inputs['as_of']}"
    return "\n\n".join([header, *(f"{t}\n{b}" for t, b in zip(SECTIONS, body, strict=True))])


def prompt_messages(inputs: dict[str, Any]) -> list[dict[str, str]]:
    """The chat messages: the instructions, then the numbers as JSON."""
    numbers = orjson.dumps(inputs, option=orjson.OPT_INDENT_2).decode()
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {
            "role": "user",
            "content": f"Competitive report for ASIN {inputs['asin']} "
            f"(seller account {inputs['account']}) as of {inputs['as_of']}. The numbers:\n{numbers}",
        },
    ]


def write_report(
    llm: LlmSettings, store: StateStore, inputs: dict[str, Any], today: date
) -> dict[str, Any]:
    """Write, store and return a report: by the provider within its daily budget, else by the
    template (its `note` says why in one sentence)."""
    messages = prompt_messages(inputs)
    report: dict[str, Any] = {
        "report_id": uuid.uuid4().hex,
        "account": inputs["account"],
        "asin": inputs["asin"],
        "created_at": time.time(),
        "inputs": orjson.dumps(inputs).decode(),
        "prompt": orjson.dumps(messages).decode(),
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cost": 0.0,
        "note": None,
    }
    day = today.isoformat()
    spent = store.spent(llm.provider, day) if llm.configured else 0.0
    if not llm.configured:
        note = "No LLM provider is configured (LLM_BASE_URL, LLM_MODEL): the template wrote it."
    elif spent >= llm.daily_budget:
        note = (
            f"The daily budget of {llm.daily_budget:g} for {llm.provider} is spent "
            f"({spent:.4f} today), so no call was made: the template wrote it."
        )
    else:
        note = None
    if note is not None:
        report |= {
            "writer": "template",
            "provider": "template",
            "model": None,
            "body": template_report(inputs),
            "note": note,
        }
    else:
        answer, prompt_tokens, completion_tokens = _complete(llm, messages)
        cost = llm.cost(prompt_tokens, completion_tokens)
        store.add_spending(llm.provider, day, cost)
        report |= {
            "writer": "llm",
            "provider": llm.provider,
            "model": llm.model,
            "body": answer,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "cost": cost,
        }
    store.save_competitive_report(report)
    return report


def _complete(llm: LlmSettings, messages: list[dict[str, str]]) -> tuple[str, int, int]:
    """The provider's answer and its token counts (openai client, any compatible server)."""
    import openai

    client = openai.OpenAI(
        base_url=llm.base_url,
        # Local providers take any key; the client insists on one.
        api_key=llm.api_key or "unused",
        timeout=_TIMEOUT_SECONDS,
        max_retries=1,
    )
    try:
        response = client.chat.completions.create(
            model=llm.model or "",
            messages=messages,
            temperature=0.2,  # type: ignore[arg-type]
        )
    except openai.AuthenticationError:
        raise ReportError(
            f"{llm.provider} refused LLM_API_KEY (401): set a key it accepts."
        ) from None
    except openai.NotFoundError:
        raise ReportError(
            f"{llm.provider} does not serve LLM_MODEL={llm.model!r} (404) at LLM_BASE_URL."
        ) from None
    except openai.APIConnectionError:
        raise ReportError(
            f"LLM_BASE_URL ({llm.base_url}) cannot be reached; no report was written."
        ) from None
    except openai.APIStatusError as error:
        raise ReportError(
            f"{llm.provider} answered {error.status_code}; no report was written."
        ) from None
    finally:
        client.close()
    text = (response.choices[0].message.content or "").strip() if response.choices else ""
    if not text:
        raise ReportError(f"{llm.provider} answered with no text; no report was written.")
    usage = response.usage
    return text, usage.prompt_tokens if usage else 0, usage.completion_tokens if usage else 0
