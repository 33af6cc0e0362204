"""The built-in agents against real subprocesses and a real local HTTP server, and their
settings and registry."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import pytest

from agentledger.core.errors import InvalidArgument
from services.engine.domain.agents.base import (
    AgentContext,
    AgentFailure,
    AgentResult,
    CostIssue,
    DataIssue,
    RemainingBudget,
    SpecIssue,
    ToolIssue,
)
from services.engine.domain.agents.command_agent import CommandAgent
from services.engine.domain.agents.http_agent import HttpAgent
from services.engine.domain.agents.human_agent import HumanAgent
from services.engine.domain.agents.llm_agent import LlmAgent
from services.engine.domain.agents.python_agent import PythonAgent
from services.engine.domain.agents.registry import AgentRegistry
from services.engine.domain.agents.settings import (
    AgentSettings,
    LlmProvider,
    Price,
    parse_agent_settings,
)
from tests.engine.agent_fakes import Harness
from tests.engine.fake_llm import FakeServer

PY = sys.executable
HERE = "tests.engine.test_agents"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as running:
        yield running


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path / "work")


# --- python ---------------------------------------------------------------------------------


def double(context: AgentContext) -> dict[str, Any]:
    return {"doubled": context.inputs["n"] * 2}


async def async_result(context: AgentContext) -> AgentResult:
    return AgentResult(output={"async": True}, verified=True)


def returns_none(context: AgentContext) -> None:
    return None


def raises_value_error(context: AgentContext) -> None:
    raise ValueError("bad row 3")


def raises_data_issue(context: AgentContext) -> None:
    raise DataIssue("input is empty", signals={"rows": 0})


def returns_text(context: AgentContext) -> str:
    return "not a result"


async def test_python_sync_callable_output(harness: Harness) -> None:
    result = await PythonAgent().execute(
        harness.context({"callable": f"{HERE}:double"}, inputs={"n": 21}), "t-1"
    )
    assert result.output["doubled"] == 42


async def test_python_async_callable_and_none(harness: Harness) -> None:
    agent = PythonAgent()
    result = await agent.execute(harness.context({"callable": f"{HERE}:async_result"}), "t-1")
    assert result.output == {"async": True} and result.verified is True
    assert await agent.execute(harness.context({"callable": f"{HERE}:returns_none"}), "t") == (
        AgentResult()
    )


async def test_python_failures(harness: Harness) -> None:
    agent = PythonAgent()
    with pytest.raises(SpecIssue, match="no_such_module"):
        await agent.execute(harness.context({"callable": "no_such_module:f"}), "t-1")
    with pytest.raises(SpecIssue, match="has no 'missing'"):
        await agent.execute(harness.context({"callable": f"{HERE}:missing"}), "t-1")
    with pytest.raises(SpecIssue, match=r"package\.module:name"):
        await agent.execute(harness.context({"callable": "no_colon"}), "t-1")
    with pytest.raises(SpecIssue, match="returned str"):
        await agent.execute(harness.context({"callable": f"{HERE}:returns_text"}), "t-1")
    with pytest.raises(DataIssue) as passed:
        await agent.execute(harness.context({"callable": f"{HERE}:raises_data_issue"}), "t-1")
    assert passed.value.signals == {"rows": 0}
    # Any other exception is classified: a ValueError (bad input) is a data issue.
    with pytest.raises(DataIssue) as wrapped:
        await agent.execute(harness.context({"callable": f"{HERE}:raises_value_error"}), "t-1")
    assert wrapped.value.signals == {"exception_type": "ValueError", "message": "bad row 3"}


# --- command --------------------------------------------------------------------------------


def _command(harness: Harness, **config: Any) -> AgentContext:
    return harness.context(config)


def _failure_kind(result: AgentResult) -> str | None:
    return result.failure.kind if result.failure else None


async def test_command_captures_stdout_as_an_artifact(harness: Harness) -> None:
    code = "import sys; print('hello'); print('oops', file=sys.stderr)"
    result = await CommandAgent(AgentSettings()).execute(
        _command(harness, argv=[PY, "-c", code]), "t-1"
    )
    assert result.failure is None
    assert result.output["exit_code"] == 0 and result.output["stdout_tail"] == "hello\n"
    assert harness.artifacts.blobs == {"stdout.txt": b"hello\n", "stderr.txt": b"oops\n"}
    assert [a.name for a in result.artifacts] == ["stdout.txt", "stderr.txt"]
    assert result.usage.tool_calls == 1 and result.usage.tool_seconds > 0
    assert harness.limits.acquired == [("tool:command", 1.0)]


async def test_command_exit_codes(harness: Harness) -> None:
    agent = CommandAgent(AgentSettings())
    fail = "import sys; sys.stderr.write('broken'); sys.exit(1)"
    result = await agent.execute(_command(harness, argv=[PY, "-c", fail]), "t-1")
    assert result.failure is not None and result.failure.kind == "execution_issue"
    assert result.failure.signals == {"exit_code": 1, "stderr_tail": "broken"}
    bad_data = _command(harness, argv=[PY, "-c", "exit(3)"], data_error_exit_codes=[3])
    assert _failure_kind(await agent.execute(bad_data, "t-1")) == "data_issue"
    expected = _command(harness, argv=[PY, "-c", "exit(5)"], expect_exit=5)
    assert (await agent.execute(expected, "t-1")).failure is None


async def test_command_not_found_is_a_tool_issue(harness: Harness) -> None:
    with pytest.raises(ToolIssue, match="could not start"):
        await CommandAgent(AgentSettings()).execute(
            _command(harness, argv=["/no/such/binary"]), "t-1"
        )


def _gone(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


async def test_command_timeout_kills_the_process_group(harness: Harness) -> None:
    pid_file = harness.work_dir / "grandchild.pid"
    code = (
        "import subprocess, sys, time;"
        f"p = subprocess.Popen([{PY!r}, '-c', 'import time; time.sleep(60)']);"
        f"open({str(pid_file)!r}, 'w').write(str(p.pid));"
        "print('started', flush=True); time.sleep(60)"
    )
    result = await CommandAgent(AgentSettings()).execute(
        _command(harness, argv=[PY, "-c", code], timeout_s=0.5), "t-1"
    )
    assert result.failure is not None and result.failure.kind == "tool_issue"
    assert "timed out after 0.5s" in result.failure.message
    assert result.failure.signals["timeout_s"] == 0.5
    assert result.output["stdout_tail"] == "started\n"
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while not _gone(grandchild) and time.monotonic() < deadline:
        await asyncio.sleep(0.01)  # SIGKILL is delivered asynchronously
    assert _gone(grandchild)


async def test_command_environment_is_scrubbed(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTLEDGER_TEST_LEAK", "should-not-leak")
    settings = AgentSettings(environ=dict(os.environ))
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    config = _command(harness, argv=[PY, "-c", code], env={"GREETING": "hi", "N": 3})
    result = await CommandAgent(settings).execute(config, "t-1")
    seen = json.loads(harness.artifacts.blobs["stdout.txt"])
    assert "AGENTLEDGER_TEST_LEAK" not in seen
    assert seen["HOME"] == str(harness.work_dir.resolve())
    assert seen["GREETING"] == "hi" and seen["N"] == "3"
    assert seen["PATH"] == os.environ["PATH"]
    assert result.failure is None


async def test_command_env_resolves_secrets_at_call_time(harness: Harness, tmp_path: Path) -> None:
    (tmp_path / "TOKEN").write_text("from-file\n")
    settings = AgentSettings(secrets_dir=tmp_path)
    code = "import os; print(os.environ['TOKEN'])"
    config = _command(harness, argv=[PY, "-c", code], env={"TOKEN": "secret://TOKEN"})
    await CommandAgent(settings).execute(config, "t-1")
    assert harness.artifacts.blobs["stdout.txt"] == b"from-file\n"
    missing = _command(harness, argv=[PY, "-c", code], env={"TOKEN": "secret://NOPE"})
    with pytest.raises(SpecIssue, match="secret 'NOPE' is not set"):
        await CommandAgent(settings).execute(missing, "t-1")
    # The platform's own configuration is not a secret a plan can ask for.
    (tmp_path / "AGENTLEDGER_MESH_KEY").write_text("the mesh key")
    own = _command(harness, argv=[PY, "-c", code], env={"TOKEN": "secret://AGENTLEDGER_MESH_KEY"})
    with pytest.raises(SpecIssue, match="platform's own configuration"):
        await CommandAgent(settings).execute(own, "t-1")


async def test_command_result_json_cwd_and_stdin(harness: Harness) -> None:
    code = (
        "import json, sys; data = sys.stdin.read();"
        "json.dump({'claims': {'done': True}, 'verified': False, 'success_proxy': 0.75,"
        " 'echo': data}, open('out/result.json', 'w'))"
    )
    (harness.work_dir / "sub" / "out").mkdir(parents=True)
    config = _command(
        harness, argv=[PY, "-c", code], cwd="sub", stdin="piped", result_json="out/result.json"
    )
    result = await CommandAgent(AgentSettings()).execute(config, "t-1")
    assert result.output["result"]["echo"] == "piped"
    assert result.claims == {"done": True}
    assert result.verified is False and result.success_proxy == 0.75


async def test_command_result_json_missing_or_invalid(harness: Harness) -> None:
    agent = CommandAgent(AgentSettings())
    (harness.work_dir).mkdir()
    (harness.work_dir / "r.json").write_text("{}")  # left by an earlier attempt
    result = await agent.execute(
        _command(harness, argv=[PY, "-c", "pass"], result_json="r.json"), "t-1"
    )
    assert result.failure is not None and "did not write" in result.failure.message
    garbled = _command(
        harness, argv=[PY, "-c", "open('r.json', 'w').write('{nope')"], result_json="r.json"
    )
    assert _failure_kind(await agent.execute(garbled, "t-1")) == "data_issue"


async def test_command_output_is_capped(harness: Harness) -> None:
    agent = CommandAgent(AgentSettings(max_output_bytes=100))
    code = "print('a' * 5000 + 'END')"
    result = await agent.execute(_command(harness, argv=[PY, "-c", code]), "t-1")
    stored = harness.artifacts.blobs["stdout.txt"]
    assert stored.startswith(b"a" * 100) and b"[truncated: 4904 more bytes" in stored
    assert (
        result.output["stdout_tail"].endswith("END\n") and len(result.output["stdout_tail"]) == 2048
    )
    assert result.output["truncated"] == {"stdout": True, "stderr": False}


async def test_command_spec_errors(harness: Harness) -> None:
    agent = CommandAgent(AgentSettings())
    with pytest.raises(SpecIssue, match="leaves the task's working folder"):
        await agent.execute(_command(harness, argv=[PY], cwd="../elsewhere"), "t-1")
    with pytest.raises(SpecIssue, match="exactly one of"):
        await agent.execute(_command(harness), "t-1")
    with pytest.raises(SpecIssue, match="timeout_s"):
        await agent.execute(_command(harness, argv=[PY], timeout_s=0), "t-1")


async def test_command_shell_only_when_asked(harness: Harness) -> None:
    agent = CommandAgent(AgentSettings(environ=dict(os.environ)))
    split = await agent.execute(_command(harness, cmd=f"{PY} -c 'print(1 + 1)'"), "t-1")
    assert split.output["stdout_tail"] == "2\n"
    shell = await agent.execute(_command(harness, cmd="echo $HOME | wc -c", shell=True), "t-1")
    assert int(shell.output["stdout_tail"]) == len(str(harness.work_dir.resolve())) + 1


# --- http -----------------------------------------------------------------------------------


async def test_http_get_json(harness: Harness, server: FakeServer) -> None:
    config = {"url": f"{server.base_url}/http/json", "params": {"q": "x"}}
    result = await HttpAgent(AgentSettings()).execute(harness.context(config), "t-1")
    assert result.failure is None
    assert result.output == {"status": 200, "json": {"hello": "world", "query": {"q": ["x"]}}}
    assert [a.name for a in result.artifacts] == ["response.json"]
    assert harness.limits.acquired == [("tool:http", 1.0)]


async def test_http_post_with_secret_header(harness: Harness, server: FakeServer) -> None:
    settings = AgentSettings(environ={"API_TOKEN": "t0ken"})
    config = {
        "method": "post",
        "url": f"{server.base_url}/http/echo",
        "json": {"a": 1},
        "headers": {"Authorization": "secret://API_TOKEN"},
    }
    result = await HttpAgent(settings).execute(harness.context(config), "t-1")
    assert result.output["json"] == {"method": "POST", "json": {"a": 1}}
    assert server.requests[-1].headers["authorization"] == "t0ken"


@pytest.mark.parametrize(
    ("status", "kind"),
    [(404, "spec_issue"), (401, "spec_issue"), (422, "data_issue"), (503, "tool_issue"),
     (429, "tool_issue")],
)  # fmt: skip
async def test_http_status_classification(
    harness: Harness, server: FakeServer, status: int, kind: str
) -> None:
    config = {"url": f"{server.base_url}/http/status/{status}"}
    result = await HttpAgent(AgentSettings()).execute(harness.context(config), "t-1")
    assert result.failure is not None and result.failure.kind == kind
    assert result.failure.signals == {"http_status": status}
    assert result.output["json"] == {"status": status}


async def test_http_expect_status_text_and_cap(harness: Harness, server: FakeServer) -> None:
    agent = HttpAgent(AgentSettings(max_output_bytes=1000))
    created = {"url": f"{server.base_url}/http/status/201", "expect_status": [201]}
    assert (await agent.execute(harness.context(created), "t-1")).failure is None
    text = await agent.execute(harness.context({"url": f"{server.base_url}/http/text"}), "t-1")
    assert text.output == {"status": 200, "text": "plain words"}
    big = await agent.execute(harness.context({"url": f"{server.base_url}/http/big"}), "t-1")
    assert big.output["truncated"] is True and len(harness.artifacts.blobs["response.txt"]) == 1000


async def test_http_transport_failures(harness: Harness, server: FakeServer) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    agent = HttpAgent(AgentSettings())
    with pytest.raises(ToolIssue, match="ConnectError"):
        await agent.execute(harness.context({"url": f"http://127.0.0.1:{closed_port}/"}), "t-1")
    hang = {"url": f"{server.base_url}/http/hang", "timeout_s": 0.2}
    with pytest.raises(ToolIssue, match=r"timed out after 0\.2s"):
        await agent.execute(harness.context(hang), "t-1")


async def test_http_host_allowlist(harness: Harness, server: FakeServer) -> None:
    agent = HttpAgent(AgentSettings(http_allowed_hosts=frozenset({"*.example.com"})))
    with pytest.raises(SpecIssue, match=r"'127\.0\.0\.1' is not in AGENTLEDGER_HTTP_ALLOWED_HOSTS"):
        await agent.execute(harness.context({"url": f"{server.base_url}/http/json"}), "t-1")
    assert server.requests == []
    with pytest.raises(SpecIssue, match="not an http"):
        await agent.execute(harness.context({"url": "file:///etc/passwd"}), "t-1")


# --- llm ------------------------------------------------------------------------------------

PROMPT_SECRET_WORDS = "the launch code is zebra-42"


def _llm_settings(server: FakeServer, **changes: Any) -> AgentSettings:
    provider = LlmProvider("local", f"{server.base_url}/v1", "secret://LLM_KEY", "fake-1", 5.0)
    settings = AgentSettings(
        llm_providers={"local": provider},
        llm_prices={"fake-1": Price(usd_per_1k_in=1.0, usd_per_1k_out=2.0)},
        environ={"LLM_KEY": "sk-test"},
    )
    return replace(settings, **changes)


async def test_llm_meters_tokens_and_never_keeps_the_prompt(
    harness: Harness, server: FakeServer
) -> None:
    config = {"prompt": "Check: {inputs[secret]} for {upstream[plan][who]}", "system": "Be brief."}
    context = harness.context(
        config, inputs={"secret": PROMPT_SECRET_WORDS}, upstream={"plan": {"who": "ops"}}
    )
    result = await LlmAgent(_llm_settings(server)).execute(context, "t-1")

    sent = server.requests[-1]
    assert sent.headers["authorization"] == "Bearer sk-test"
    body = sent.json()
    prompt = f"Check: {PROMPT_SECRET_WORDS} for ops"
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": prompt},
    ]
    assert body["model"] == "fake-1" and body["max_tokens"] == 1024
    # 2 system words + 8 prompt words in; "counted 10 words" out.
    assert (result.usage.tokens_in, result.usage.tokens_out) == (10, 3)
    assert result.usage.usd == pytest.approx((10 * 1.0 + 3 * 2.0) / 1000)
    assert result.output == {"text": "counted 10 words", "model": "fake-1", "finish_reason": "stop"}
    [call] = harness.events.of_type("llm.call")
    assert call.payload["prompt_sha256"] == hashlib.sha256(prompt.encode()).hexdigest()
    assert call.payload["prompt_chars"] == len(prompt)
    assert call.payload["tokens_in"] == 10 and call.payload["usd"] == result.usage.usd
    everything = json.dumps([e.payload for e in harness.events.events]) + json.dumps(result.output)
    assert "zebra" not in everything and "sk-test" not in everything
    assert harness.limits.acquired == [("llm:local", 1.0)]


async def test_llm_unknown_price_and_json_output(harness: Harness, server: FakeServer) -> None:
    server.reply = '```json\n{"answer": 42}\n```'
    settings = _llm_settings(server, llm_prices={})
    config = {"prompt": "Answer in JSON", "output_json": True, "model": "other"}
    result = await LlmAgent(settings).execute(harness.context(config), "t-1")
    assert result.output["json"] == {"answer": 42} and result.usage.usd == 0.0
    [unknown] = harness.events.of_type("llm.price_unknown")
    assert unknown.payload["model"] == "other" and unknown.severity == 4
    server.reply = "not json"
    bad = await LlmAgent(settings).execute(harness.context(config), "t-1")
    assert bad.failure is not None and bad.failure.kind == "data_issue"
    assert bad.usage.tokens_out == 2  # spent tokens are metered even when the answer is bad


@pytest.mark.parametrize(
    ("status", "error"), [(429, ToolIssue), (500, ToolIssue), (401, SpecIssue)]
)
async def test_llm_http_errors(
    harness: Harness, server: FakeServer, status: int, error: type[AgentFailure]
) -> None:
    server.llm_status = status
    with pytest.raises(error, match=f"answered {status}.*fake error {status}") as raised:
        await LlmAgent(_llm_settings(server)).execute(harness.context({"prompt": "hi"}), "t-1")
    assert raised.value.signals["http_status"] == status


async def test_llm_timeout(harness: Harness, server: FakeServer) -> None:
    server.hang = True
    provider = LlmProvider("local", f"{server.base_url}/v1", "", "fake-1", timeout_s=0.2)
    settings = AgentSettings(llm_providers={"local": provider})
    with pytest.raises(ToolIssue, match=r"did not answer within 0\.2s"):
        await LlmAgent(settings).execute(harness.context({"prompt": "hi"}), "t-1")
    assert "authorization" not in server.requests[-1].headers


async def test_llm_refuses_before_calling(harness: Harness, server: FakeServer) -> None:
    agent = LlmAgent(_llm_settings(server))
    tight = RemainingBudget(tokens=500, usd=None, seconds=None)
    with pytest.raises(CostIssue, match="max_tokens 1024 exceeds the 500 tokens"):
        await agent.execute(harness.context({"prompt": "hi"}, budget=tight), "t-1")
    with pytest.raises(SpecIssue, match=r"\{inputs\[nope\]\}: no 'nope'"):
        await agent.execute(harness.context({"prompt": "{inputs[nope]}"}), "t-1")
    with pytest.raises(SpecIssue, match="reads an attribute"):
        await agent.execute(harness.context({"prompt": "{inputs.__class__}"}), "t-1")
    with pytest.raises(SpecIssue, match="'nowhere' is not configured"):
        await agent.execute(harness.context({"prompt": "hi", "provider": "nowhere"}), "t-1")
    with pytest.raises(SpecIssue, match="set AGENTLEDGER_LLM_PROVIDERS"):
        await LlmAgent(AgentSettings()).execute(harness.context({"prompt": "hi"}), "t-1")
    assert server.requests == []


# --- human ----------------------------------------------------------------------------------


async def test_human_asks_until_every_field_is_given(harness: Harness) -> None:
    config = {"question": "Approve the release?", "fields": ["approved", "comment"]}
    agent = HumanAgent()
    asked = await agent.execute(harness.context(config), "t-1")
    assert asked.needs_input is not None and asked.needs_input.fields == ("approved", "comment")
    partial = await agent.execute(harness.context(config, human_input={"approved": True}), "t")
    assert partial.needs_input is not None and partial.needs_input.fields == ("comment",)
    answers = {"approved": True, "comment": "ship it", "extra": 1}
    done = await agent.execute(harness.context(config, human_input=answers), "t-1")
    assert done.needs_input is None and done.output == {"approved": True, "comment": "ship it"}
    with pytest.raises(SpecIssue, match=r"config\.fields"):
        await agent.execute(harness.context({"question": "?"}), "t-1")


# --- settings and registry ------------------------------------------------------------------


def test_parse_agent_settings() -> None:
    settings = parse_agent_settings(
        {
            "AGENTLEDGER_LLM_PROVIDERS": "openai=https://api.example/v1/;model=m1;key=secret://K,"
            " local=http://127.0.0.1:8000/v1",
            "AGENTLEDGER_LLM_PRICES": '{"m1": {"in": 0.5, "out": 1.5}, "m2": [0, 0.1]}',
            "AGENTLEDGER_AGENTS": f"echo={HERE}:EchoAgent",
            "AGENTLEDGER_HTTP_ALLOWED_HOSTS": "API.example.com, *.internal",
            "AGENTLEDGER_COMMAND_TIMEOUT_S": "12",
            "PATH": "/bin",
        }
    )
    assert settings.llm_providers["openai"] == LlmProvider(
        "openai", "https://api.example/v1", "secret://K", "m1", 60.0
    )
    assert settings.llm_default_provider == "openai"
    assert settings.llm_prices == {"m1": Price(0.5, 1.5), "m2": Price(0.0, 0.1)}
    assert settings.custom_agents == {"echo": f"{HERE}:EchoAgent"}
    assert settings.http_allowed_hosts == {"api.example.com", "*.internal"}
    assert settings.command_timeout_default_s == 12.0
    assert settings.command_env() == {"PATH": "/bin"}
    assert "secret://K" not in repr(settings)  # neither keys nor the environment are printed


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("AGENTLEDGER_LLM_PROVIDERS", "openai", "is not name=base_url"),
        ("AGENTLEDGER_LLM_PROVIDERS", "x=ftp://host", "is not an http"),
        ("AGENTLEDGER_LLM_PROVIDERS", "x=http://h;colour=red", "unknown options"),
        ("AGENTLEDGER_LLM_PRICES", "{bad", "is not valid JSON"),
        ("AGENTLEDGER_LLM_PRICES", '{"m": {"in": -1, "out": 1}}', "non-negative"),
        ("AGENTLEDGER_AGENTS", "echo=nocolon", "kind=pkg.module:ClassName"),
        ("AGENTLEDGER_LLM_DEFAULT_PROVIDER", "ghost", "names no provider"),
        ("AGENTLEDGER_HTTP_TIMEOUT_S", "soon", "AGENTLEDGER_HTTP_TIMEOUT_S"),
    ],
)
def test_parse_agent_settings_names_the_bad_setting(name: str, value: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message) as raised:
        parse_agent_settings({name: value})
    assert name in str(raised.value)


class EchoAgent:
    def __init__(self, settings: AgentSettings) -> None:
        self.settings = settings

    async def execute(self, context: AgentContext, task_id: str) -> AgentResult:
        return AgentResult(output={"echo": dict(context.inputs)})


class NoExecute:
    pass


def test_registry_builtins_and_custom_kinds() -> None:
    settings = AgentSettings(custom_agents={"echo": f"{HERE}:EchoAgent"})
    registry = AgentRegistry(settings)
    assert registry.kinds() == {"python", "command", "http", "llm", "human", "echo"}
    echo = registry.get("echo")
    assert isinstance(echo, EchoAgent) and echo.settings is settings
    assert isinstance(registry.get("command"), CommandAgent)
    with pytest.raises(InvalidArgument, match="unknown agent kind 'nope'; known kinds: command"):
        registry.get("nope")
    with pytest.raises(InvalidArgument, match="has no `async def execute"):
        registry.register("broken", f"{HERE}:NoExecute")
    with pytest.raises(InvalidArgument, match="cannot import module 'missing_mod'"):
        registry.register("gone", "missing_mod:Agent")
    with pytest.raises(InvalidArgument, match="is built in"):
        registry.register("command", f"{HERE}:EchoAgent")
    registry.register("echo2", EchoAgent(settings))
    assert "echo2" in registry.kinds()
