"""The llm-brief example's deterministic steps: read the document, then check and publish the
model's brief. The model call itself is the plan's `llm` node."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from examples.paths import input_path
from services.engine.domain.agents.base import AgentContext, AgentResult, DataIssue

DEFAULT_TEXT = Path(__file__).resolve().parent / "data" / "incident.md"
MAX_CHARS = 20_000  # keeps the prompt well inside any model's context and the budget


def read(ctx: AgentContext) -> dict[str, Any]:
    """The document's text and title (its first markdown heading, else the file name)."""
    path = input_path(ctx.inputs.get("text_path"), DEFAULT_TEXT)
    assert path is not None
    if not path.is_file():
        raise DataIssue(
            f"{path} does not exist; resume with text_path=<a text file>",
            signals={"text_path": str(path)},
        )
    text = path.read_text(encoding="utf-8", errors="replace").strip()
    if not text:
        raise DataIssue(f"{path.name} is empty: there is nothing to summarize")
    if len(text) > MAX_CHARS:
        raise DataIssue(
            f"{path.name} has {len(text)} characters; this example summarizes at most {MAX_CHARS}",
            signals={"chars": len(text), "max_chars": MAX_CHARS},
        )
    headings = [line.lstrip("#").strip() for line in text.splitlines() if line.startswith("# ")]
    return {
        "path": str(path),
        "title": headings[0] if headings else path.stem,
        "text": text,
        "words": len(text.split()),
    }


async def publish(ctx: AgentContext) -> AgentResult:
    """Checks the brief (not empty, much shorter than the source) and writes it as brief.md."""
    source, brief = ctx.upstream["read"], ctx.upstream["brief"]
    text = str(brief.get("text", "")).strip()
    words = len(text.split())
    problems = []
    if not text:
        problems.append("the brief is empty")
    if words * 2 > source["words"]:
        problems.append(f"the brief has {words} words, over half of the source's {source['words']}")
    if brief.get("finish_reason") == "length":
        problems.append("the model stopped at max_tokens: the brief may be cut off")
    body = f"# Brief: {source['title']}\n\n{text}\n\n---\nModel: {brief.get('model', '?')}; "
    body += f"source: {Path(source['path']).name} ({source['words']} words).\n"
    await ctx.artifacts.write("brief.md", body.encode(), "text/markdown")
    return AgentResult(
        output={"words": words, "problems": problems},
        verified=not problems,
        claims={"brief_words": words},
    )
