"""A narrative rephraser over an OpenAI-compatible chat endpoint (`/chat/completions`).

It is asked for a JSON array with one rewording per sentence; whatever it answers is checked by
`domain.rephrase` before a user sees it, so a wrong answer costs only the rewording.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx
import orjson

from services.product.settings import RephraserSettings

PROMPT = (
    "Reword each sentence of this task report so that it reads naturally for the person who "
    "ran the task. Keep every number, amount, name, id and quoted value exactly as written; "
    "add nothing. Answer with a JSON array of strings only, one per sentence, in order."
)


class HttpRephraser:
    def __init__(self, settings: RephraserSettings) -> None:
        self._settings = settings
        self.name = f"llm:{settings.model or 'default'}"

    async def reword(self, sentences: Sequence[str]) -> Sequence[str]:
        s = self._settings
        body = {
            "model": s.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": PROMPT},
                {"role": "user", "content": orjson.dumps(list(sentences)).decode()},
            ],
        }
        headers = {"content-type": "application/json"}
        if s.api_key:
            headers["authorization"] = f"Bearer {s.api_key}"
        async with httpx.AsyncClient(timeout=s.timeout_s, trust_env=False) as client:
            response = await client.post(
                f"{s.url}/chat/completions", headers=headers, content=orjson.dumps(body)
            )
        response.raise_for_status()
        text = response.json()["choices"][0]["message"]["content"] or ""
        text = text.strip().removeprefix("```json").removeprefix("```").removesuffix("```")
        answer = orjson.loads(text)
        if not isinstance(answer, list) or not all(isinstance(x, str) for x in answer):
            raise ValueError("the rephraser did not answer with a JSON array of strings")
        return answer
