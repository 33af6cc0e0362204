"""The `human` agent: asks a person for named fields and waits until they are supplied."""

from __future__ import annotations

from services.engine.domain.agents.base import AgentContext, AgentResult, InputRequest, SpecIssue


class HumanAgent:
    """Config `{question, fields: [names]}`. Without every field in `context.human_input` the
    result asks for the missing ones (the task waits for ResumeTask); with them, the supplied
    values are the output, exactly as given."""

    kind = "human"

    async def execute(self, context: AgentContext, task_id: str) -> AgentResult:
        question = context.config.get("question")
        fields = context.config.get("fields")
        if not isinstance(question, str) or not question.strip():
            raise SpecIssue("the human agent needs config.question, the text shown to the user")
        if (
            not isinstance(fields, list)
            or not fields
            or not all(isinstance(f, str) and f for f in fields)
        ):
            raise SpecIssue(
                "the human agent needs config.fields, the names of the values to ask for, "
                "e.g. [approved, comment]"
            )
        supplied = context.human_input or {}
        missing = tuple(f for f in fields if f not in supplied)
        if missing:
            evidence = {"supplied": sorted(f for f in fields if f in supplied)} if supplied else {}
            return AgentResult(needs_input=InputRequest(question, missing, evidence))
        return AgentResult(output={f: supplied[f] for f in fields})
