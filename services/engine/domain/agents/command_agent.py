"""The `command` agent: a subprocess with a timeout, a scrubbed environment and captured output."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson

from services.engine.domain.agents.base import (
    AgentContext,
    AgentResult,
    Failure,
    SpecIssue,
    ToolIssue,
    Usage,
)
from services.engine.domain.agents.settings import AgentSettings

TAIL_BYTES = 2048
_DRAIN_GRACE_S = 1.0  # a process that left the group (setsid) may hold our pipes forever


@dataclass(frozen=True, slots=True)
class CommandSpec:
    argv: tuple[str, ...]
    cwd: str
    env: Mapping[str, str]
    timeout_s: float
    expect_exit: int
    data_error_exit_codes: frozenset[int]
    stdin: bytes | None
    result_json: str | None

    @property
    def display(self) -> str:
        text = shlex.join(self.argv)
        return text if len(text) <= 80 else text[:77] + "..."


def parse_spec(config: Mapping[str, Any], default_timeout_s: float) -> CommandSpec:
    """Config `{argv: [...] | cmd: "..." (split like a shell, run through one only with
    shell: true), cwd, env, timeout_s, expect_exit, data_error_exit_codes, stdin, result_json}`."""
    argv, cmd, shell = config.get("argv"), config.get("cmd"), config.get("shell", False)
    if not isinstance(shell, bool):
        raise SpecIssue(f"config.shell must be true or false, got {shell!r}")
    if (argv is None) == (cmd is None):
        raise SpecIssue("the command agent needs exactly one of config.argv (a list) or cmd")
    if argv is not None:
        if shell or not isinstance(argv, list) or not argv:
            raise SpecIssue("config.argv must be a non-empty list, run without a shell")
        words = [_scalar(a, "argv") for a in argv]
    elif not isinstance(cmd, str):
        raise SpecIssue("config.cmd must be a string")
    else:
        words = ["/bin/sh", "-c", cmd] if shell is True else shlex.split(cmd)
    env = config.get("env") or {}
    timeout_s = config.get("timeout_s", default_timeout_s)
    codes = config.get("data_error_exit_codes") or []
    expect_exit = config.get("expect_exit", 0)
    stdin, result_json, cwd = config.get("stdin"), config.get("result_json"), config.get("cwd", ".")
    if not isinstance(env, Mapping) or not all(isinstance(k, str) for k in env):
        raise SpecIssue("config.env must map variable names to values")
    if not isinstance(timeout_s, int | float) or isinstance(timeout_s, bool) or timeout_s <= 0:
        raise SpecIssue(f"config.timeout_s must be a positive number of seconds, got {timeout_s!r}")
    if not isinstance(codes, list) or not all(type(c) is int for c in codes):
        raise SpecIssue("config.data_error_exit_codes must be a list of integers")
    if type(expect_exit) is not int:
        raise SpecIssue(f"config.expect_exit must be an integer, got {expect_exit!r}")
    for name, value in (("stdin", stdin), ("result_json", result_json), ("cwd", cwd)):
        if value is not None and not isinstance(value, str):
            raise SpecIssue(f"config.{name} must be a string")
    return CommandSpec(
        argv=tuple(words),
        cwd=cwd,
        env={k: _scalar(v, f"env.{k}") for k, v in env.items()},
        timeout_s=float(timeout_s),
        expect_exit=expect_exit,
        data_error_exit_codes=frozenset(codes),
        stdin=stdin.encode() if stdin is not None else None,
        result_json=result_json,
    )


class CommandAgent:
    kind = "command"

    def __init__(self, settings: AgentSettings) -> None:
        self._settings = settings

    async def execute(self, context: AgentContext, task_id: str) -> AgentResult:
        default_timeout = min(self._settings.command_timeout_default_s, context.timeout_s)
        spec = parse_spec(context.config, default_timeout)
        work_dir = context.work_dir.resolve()
        cwd = inside(work_dir, spec.cwd, "config.cwd")
        cwd.mkdir(parents=True, exist_ok=True)
        result_path = None
        if spec.result_json:
            result_path = inside(work_dir, str(cwd / spec.result_json), "config.result_json")
            # The working folder is shared across attempts: an old answer must not pass as new.
            result_path.unlink(missing_ok=True)
        env = self._settings.command_env() | {"HOME": str(work_dir)}
        env |= {k: self._settings.secret(v) for k, v in spec.env.items()}

        await context.limits.acquire("tool:command")
        started = time.monotonic()
        out, err = (
            Capture(self._settings.max_output_bytes),
            Capture(self._settings.max_output_bytes),
        )
        exit_code = await run(spec, cwd, env, out, err)
        usage = Usage(tool_seconds=time.monotonic() - started, tool_calls=1)
        refs = (
            await context.artifacts.write("stdout.txt", out.artifact(), "text/plain"),
            await context.artifacts.write("stderr.txt", err.artifact(), "text/plain"),
        )
        output: dict[str, Any] = {
            "exit_code": exit_code,
            "stdout_tail": out.tail_text(),
        }
        if out.truncated or err.truncated:
            output["truncated"] = {"stdout": out.truncated, "stderr": err.truncated}
        result = AgentResult(output=output, usage=usage, artifacts=refs)
        if exit_code is None:
            return replace(
                result,
                failure=Failure(
                    "tool_issue",
                    f"command {spec.display!r} timed out after {spec.timeout_s:g}s",
                    {"timeout_s": spec.timeout_s, "argv": list(spec.argv)},
                ),
            )
        failure = _exit_failure(spec, exit_code, err.tail_text())
        if result_path is not None and spec.result_json:
            return _with_result_json(result, result_path, spec.result_json, failure)
        return replace(result, failure=failure)


async def run(
    spec: CommandSpec, cwd: Path, env: Mapping[str, str], out: Capture, err: Capture
) -> int | None:
    """Runs the command in its own process group; its exit code, or None if it timed out (the
    whole group is killed then). Whatever the group leaves running is killed too: a node must
    not leave processes behind, and they would hold the output pipes open."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *spec.argv,
            cwd=cwd,
            env=dict(env),
            stdin=asyncio.subprocess.PIPE if spec.stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise ToolIssue(
            f"command {spec.argv[0]!r} could not start: {exc.strerror or exc}",
            signals={"argv": list(spec.argv), "error": type(exc).__name__},
        ) from exc
    io = [
        asyncio.create_task(_pump(proc.stdout, out)),
        asyncio.create_task(_pump(proc.stderr, err)),
        asyncio.create_task(_feed(proc.stdin, spec.stdin)),
    ]
    try:
        async with asyncio.timeout(spec.timeout_s):
            exit_code = await proc.wait()
            _kill_group(proc.pid)
            await asyncio.wait(io)
        return exit_code
    except TimeoutError:
        return None
    finally:
        _kill_group(proc.pid)
        await proc.wait()  # reaps it: a killed process exits at once
        await asyncio.wait(io, timeout=_DRAIN_GRACE_S)
        for task in io:
            task.cancel()


class Capture:
    """Keeps a stream's first `limit` bytes (the artifact) and its last TAIL_BYTES, so a
    chatty command costs bounded memory and its tail (where errors are) is never lost."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._head = bytearray()
        self._tail = b""
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        room = self._limit - len(self._head)
        if room > 0:
            self._head += chunk[:room]
        self._tail = (self._tail + chunk)[-TAIL_BYTES:]
        self.total += len(chunk)

    @property
    def truncated(self) -> bool:
        return self.total > len(self._head)

    def artifact(self) -> bytes:
        if not self.truncated:
            return bytes(self._head)
        note = f"\n[truncated: {self.total - len(self._head)} more bytes not kept]\n"
        return bytes(self._head) + note.encode()

    def tail_text(self) -> str:
        return self._tail.decode("utf-8", errors="replace")


def inside(base: Path, relative: str, what: str) -> Path:
    """`base / relative`, refused (SpecIssue) if it leaves `base`."""
    target = (base / relative).resolve()
    if not target.is_relative_to(base):
        raise SpecIssue(
            f"{what} {relative!r} leaves the task's working folder; give a relative path inside it",
            signals={"path": relative},
        )
    return target


def _exit_failure(spec: CommandSpec, exit_code: int, stderr_tail: str) -> Failure | None:
    if exit_code == spec.expect_exit:
        return None
    kind = "data_issue" if exit_code in spec.data_error_exit_codes else "execution_issue"
    return Failure(
        kind,
        f"command {spec.display!r} exited with {exit_code}, expected {spec.expect_exit}",
        {"exit_code": exit_code, "stderr_tail": stderr_tail[-512:]},
    )


def _with_result_json(
    result: AgentResult, path: Path, name: str, failure: Failure | None
) -> AgentResult:
    """Adds the command's own answer (claims, verified, success_proxy) from its result file."""
    if not path.is_file():
        missing = Failure("execution_issue", f"the command did not write result_json {name!r}")
        return replace(result, failure=failure or missing)
    try:
        answer = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        invalid = Failure("data_issue", f"result_json {name!r} is not valid JSON: {exc}")
        return replace(result, failure=failure or invalid)
    fields: dict[str, Any] = {}
    if isinstance(answer, dict):
        if isinstance(answer.get("claims"), dict):
            fields["claims"] = answer["claims"]
        if isinstance(answer.get("verified"), bool):
            fields["verified"] = answer["verified"]
        proxy = answer.get("success_proxy")
        if isinstance(proxy, int | float) and not isinstance(proxy, bool) and 0 <= proxy <= 1:
            fields["success_proxy"] = float(proxy)
    return replace(result, output={**result.output, "result": answer}, failure=failure, **fields)


def _scalar(value: object, where: str) -> str:
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    raise SpecIssue(f"config.{where} must be a string or a number, got {value!r}")


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


async def _pump(stream: asyncio.StreamReader | None, sink: Capture) -> None:
    if stream is not None:
        while chunk := await stream.read(65536):
            sink.feed(chunk)


async def _feed(stdin: asyncio.StreamWriter | None, data: bytes | None) -> None:
    if stdin is None:
        return
    # A command that does not read its input closes the pipe early; that is not our failure.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        if data:
            stdin.write(data)
            await stdin.drain()
        stdin.close()
        await stdin.wait_closed()
