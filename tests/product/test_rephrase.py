"""Rephrasing the narrative (SPEC 3.2): a model's rewording is taken only where it passes the
checker; everything else, and a model that fails, leaves the rule-based sentence."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
import pytest

from services.product.domain.rephrase import rephrase
from services.product.domain.sentences import Checked
from services.product.rephraser import HttpRephraser
from services.product.settings import RephraserSettings
from tests.engine.fake_llm import FakeServer
from tests.product.test_goals import Trace
from tests.product.test_narrative import told


def a_run() -> tuple[Trace, Checked]:
    t = Trace()
    t.run("validate", "spec", tokens=100, usd=0.1)
    t.run("clean", tokens=300, usd=0.2, output={"rows_dropped": 0})
    t.run("verify", "verify", tokens=1000, usd=0.05, verified=True, claims={"total": 12.5})
    t.state_to("COMPLETED", "all 3 nodes completed")
    return t, told(t)


class Scripted:
    name = "llm:scripted"

    def __init__(self, answer: Sequence[str] | Exception) -> None:
        self.answer = answer

    async def reword(self, sentences: Sequence[str]) -> Sequence[str]:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


async def test_a_rewording_that_keeps_its_figures_is_taken_with_the_same_citations() -> None:
    t, checked = a_run()
    total = next(i for i, s in enumerate(checked.sentences) if s.text.startswith("The run spent"))
    answer = [""] * len(checked.sentences)
    answer[total] = "In all, the task cost $0.35: 1,400 tokens in and 140 out over 3 node runs."
    out, by = await rephrase(Scripted(answer), checked, t.trace())
    assert by == "llm:scripted"
    assert out.sentences[total].text == answer[total]
    assert out.sentences[total].seqs == checked.sentences[total].seqs
    others = [s for i, s in enumerate(out.sentences) if i != total]
    assert others == [s for i, s in enumerate(checked.sentences) if i != total]


async def test_a_rewording_that_changes_a_figure_or_fails_keeps_the_rules_text() -> None:
    t, checked = a_run()
    total = next(i for i, s in enumerate(checked.sentences) if s.text.startswith("The run spent"))
    wrong = [""] * len(checked.sentences)
    wrong[total] = "In all, the task cost $0.50: 1,400 tokens in and 140 out over 3 node runs."
    out, by = await rephrase(Scripted(wrong), checked, t.trace())
    assert (out, by) == (checked, "rules")
    out, by = await rephrase(Scripted(RuntimeError("model down")), checked, t.trace())
    assert (out, by) == (checked, "rules")


async def test_the_http_rephraser_asks_an_openai_compatible_endpoint() -> None:
    t, checked = a_run()
    total = next(i for i, s in enumerate(checked.sentences) if s.text.startswith("The run spent"))
    answer = [s.text for s in checked.sentences]
    answer[total] = "Altogether the run spent $0.35, 1,400 tokens in and 140 out, over 3 node runs."
    with FakeServer() as server:
        server.reply = orjson.dumps(answer).decode()
        rephraser = HttpRephraser(
            RephraserSettings(url=f"{server.base_url}/v1", model="m1", api_key="k-test")
        )
        out, by = await rephrase(rephraser, checked, t.trace())
        sent = server.requests[-1]
        assert sent.path == "/v1/chat/completions"
        assert sent.headers["authorization"] == "Bearer k-test"
        assert orjson.loads(sent.json()["messages"][1]["content"]) == [
            s.text for s in checked.sentences
        ]
        assert by == "llm:m1" and out.sentences[total].text == answer[total]
        server.reply = "not json"
        with pytest.raises(orjson.JSONDecodeError):
            await rephraser.reword(["x"])
