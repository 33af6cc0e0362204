"""Rephrasing the narrative (SPEC 3.2): a configured language model may reword the rule-based
sentences, never what they rest on. Each reworded sentence keeps the original's citations and
must pass the same checker (every figure quoted as the evidence has it); any that does not, or
that the model did not return, stays as the rules wrote it. A model that fails costs nothing
but the rewording.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from services.product.domain.evidence import RunTrace
from services.product.domain.sentences import Checked, check

log = logging.getLogger("agentledger.product")
MAX_GROWTH = 3  # a reworded sentence longer than this many times the original is refused


class Rephraser(Protocol):
    name: str

    async def reword(self, sentences: Sequence[str]) -> Sequence[str]:
        """One rewording per sentence, in order; "" keeps the original."""
        ...


async def rephrase(rephraser: Rephraser, checked: Checked, trace: RunTrace) -> tuple[Checked, str]:
    """The sentences reworded where the rewording passes the checker, and who wrote them:
    the rephraser's name if it wrote any, else "rules"."""
    originals = checked.sentences
    if not originals:
        return checked, "rules"
    try:
        texts = list(await rephraser.reword([s.text for s in originals]))
    except Exception as exc:  # the rewording is optional: fall back, and say why in the log
        log.warning("rephraser %s failed, keeping the rule-based text: %s", rephraser.name, exc)
        return checked, "rules"
    out = []
    taken = 0
    for i, s in enumerate(originals):
        new = texts[i].strip() if i < len(texts) and isinstance(texts[i], str) else ""
        if not new or new == s.text or len(new) > MAX_GROWTH * len(s.text) + 40:
            out.append(s)
            continue
        candidate = replace(s, text=new)
        if check([candidate], trace).sentences:
            out.append(candidate)
            taken += 1
        else:
            out.append(s)
    return Checked(tuple(out), checked.refused), rephraser.name if taken else "rules"
