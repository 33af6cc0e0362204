"""The redaction policy (SPEC 1.6): every secret kind found and replaced by a marker, ordinary
text left alone, sensitive fields and prompts, the JSON fast path, the log filter, and patterns
that stay linear on adversarial input."""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import logging
import random
import string
import time
import uuid

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agentledger.security.redaction import (
    DEFAULT_POLICY,
    KINDS,
    PROMPT_KIND,
    RULES,
    SENSITIVE_KIND,
    Finding,
    RedactingLogFilter,
    RedactionPolicy,
    RedactionReport,
    marker,
)
from tests.security.secrets_corpus import Seed, find_any, seeded_secrets

SEEDS = seeded_secrets()
policy = DEFAULT_POLICY


def _seed(kind: str) -> Seed:
    return next(s for s in SEEDS if s.kind == kind)


def _h8(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:8]


# --- every kind --------------------------------------------------------------------------------


def test_there_are_at_least_20_kinds_and_the_corpus_covers_them_all() -> None:
    assert len(KINDS) >= 20
    assert len(set(KINDS)) == len(KINDS)
    assert {s.kind for s in SEEDS} == set(KINDS)


@pytest.mark.parametrize("seed", SEEDS, ids=[f"{s.kind}-{i}" for i, s in enumerate(SEEDS)])
def test_each_seed_is_found_with_its_kind_and_removed(seed: Seed) -> None:
    findings = policy.scan(seed.text)
    assert [f.kind for f in findings] == [seed.kind]
    redacted = policy.redact_text(seed.text)
    assert find_any(redacted, SEEDS) == []
    f = findings[0]
    assert marker(seed.kind, seed.text[f.start : f.end]) in redacted
    assert seed.secret in seed.text[f.start : f.end]


def test_only_the_secret_part_is_replaced() -> None:
    seed = _seed("url_password")
    redacted = policy.redact_text(seed.text)
    assert redacted == seed.text.replace(seed.secret, marker("url_password", seed.secret))
    assert redacted.startswith("postgresql://ledger:[redacted:url_password:")
    assert redacted.endswith("@db.internal:5432/ledger")


def test_a_marker_has_the_kind_and_a_short_hash() -> None:
    assert marker("jwt", "abc") == f"[redacted:jwt:{_h8('abc')}]"


def test_equal_values_give_equal_markers_and_different_values_different_ones() -> None:
    a, b = (s.secret for s in SEEDS if s.kind == "github_token")
    redacted = policy.redact_text(f"first {a} then {b} then {a} again")
    first, second, third = (part.split("]")[0] for part in redacted.split("[redacted:")[1:])
    assert first == third != second
    # The same token under a secret key name gets the marker it gets in free text.
    assert policy.redact_value({"token": a}) == {"token": marker("github_token", a)}


def test_findings_are_sorted_and_do_not_overlap() -> None:
    text = " | ".join(s.text for s in SEEDS)
    findings = policy.scan(text)
    assert findings == sorted(findings, key=lambda f: f.start)
    assert all(a.end <= b.start for a, b in itertools.pairwise(findings))
    assert all(isinstance(f, Finding) for f in findings)
    assert len(findings) == len(SEEDS)


def test_the_more_specific_kind_wins_over_a_generic_assignment() -> None:
    token = _seed("github_token").secret
    assert [f.kind for f in policy.scan(f"token={token}")] == ["github_token"]
    # A generic finding that starts earlier covers the whole value (nothing of it is left).
    assert [f.kind for f in policy.scan(f"password=pre{token}")] == ["password_assignment"]


def test_counts_per_kind_for_an_export_report() -> None:
    text = "\n".join(s.text for s in SEEDS)
    redacted, counts = policy.redact_text_counted(text)
    assert redacted == policy.redact_text(text)
    assert counts == {k: sum(s.kind == k for s in SEEDS) for k in KINDS}
    report = RedactionReport()
    policy.redact_value({"a": _seed("jwt").text, "b": [_seed("jwt").text]}, report=report)
    policy.redact_value({"password": "hunter2"}, report=report)
    assert report.as_dict() == {"jwt": 2, "password_assignment": 1}
    assert report.total == 3
    assert policy.redact_text_counted("nothing here") == ("nothing here", {})


# --- ordinary text is left alone ----------------------------------------------------------------

_RNG = random.Random(7)
_IMAGE = "data:image/png;base64," + base64.b64encode(_RNG.randbytes(600)).decode()

# Judgement calls, each a line: what must NOT be redacted.
CLEAN = [
    str(uuid.UUID(int=_RNG.getrandbits(128))),  # ids
    "task 0190f3a2-7c1e-7b44-9a1d-3e5f2b8c9d10 event 0190f3a2-7c1e-7b44-9a1d-3e5f2b8c9d11",
    hashlib.sha256(b"artifact").hexdigest(),  # digests and commit ids
    "commit " + hashlib.sha1(b"x").hexdigest(),
    "https://example.com:8443/v1/items?page=3&sort=desc#top",  # URLs without a password
    "https://ops@example.com/repo.git",  # a user name alone is not a secret
    "mailto:ops@example.com and ssh git@github.com:acme/repo.git",
    _IMAGE,  # base64 data of moderate length
    '{"token_count": 12, "tokens": 40, "max_tokens": 1000, "prompt_tokens": 5}',
    '{"password_policy": "strong", "password_min_length": 12, "secret_name": "db"}',
    '{"api_key_ref": "secret://OPENAI_API_KEY", "token": "secret://GITHUB_TOKEN"}',
    '{"password": null, "secret": "", "token": true, "api_key": "${API_KEY}"}',
    "password: ******",
    '"password": {"type": "string", "minLength": 12}',  # a JSON schema
    "next_page_token=CgwIARIIZXZlbnQtNDI and page_token: abc123",
    "the token expired; a password reset was requested; rotate the secret weekly",
    "Bearer tokens are documented in the API guide",
    "time_unix_nano=1712345678901234567 duration_ns=4821000000000",
    "card 4111 1111 1111 1112 fails the Luhn check",
    "call +1 415 555 0100 or 020 7946 0958",
    "model gpt-4o-mini-2024-07-18 via sk-learn and task-key-manager",
    "AKIA is a prefix; SG.x.y is short; ya29 alone; hf_hub_download; npm_config_cache",
    "monkey: banana, turkey: roast, hotkey=ctrl",
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ\n-----END CERTIFICATE-----",
    "[redacted:github_token:0a1b2c3d] and [redacted:prompt:0a1b2c3d len=12]",
]


@pytest.mark.parametrize("text", CLEAN)
def test_ordinary_text_has_no_findings(text: str) -> None:
    assert policy.scan(text) == []
    assert policy.redact_text(text) is text


# --- JSON values: key names, sensitive fields, prompts ------------------------------------------


def test_values_under_secret_key_names_are_redacted_whatever_the_spelling() -> None:
    doc = {
        "apiKey": "abc",
        "X-Api-Key": "abc",
        "DB_PASSWORD": "hunter2",
        "pin": {"passwd": 1234},
        "Authorization": "Basic dXNlcjpwYXNz",
        "clientSecret": "s3",
        "accessToken": "t0k",
        "private_key_id": "k1",
    }
    assert policy.redact_value(doc) == {
        "apiKey": marker("api_key_assignment", "abc"),
        "X-Api-Key": marker("api_key_assignment", "abc"),
        "DB_PASSWORD": marker("password_assignment", "hunter2"),
        "pin": {"passwd": marker("password_assignment", "1234")},
        "Authorization": marker("authorization_header", "Basic dXNlcjpwYXNz"),
        "clientSecret": marker("api_key_assignment", "s3"),
        "accessToken": marker("api_key_assignment", "t0k"),
        "private_key_id": marker("gcp_service_account_key", "k1"),
    }


def test_values_under_secret_key_names_that_are_no_secrets_are_kept() -> None:
    doc = {
        "token": True,
        "password": None,
        "secret": "",
        "api_key": "secret://OPENAI_API_KEY",
        "next_page_token": "abc",
        "token_count": 12,
        "password_policy": "strong",
        "tokens": [1, 2],
    }
    assert policy.redact_value(doc) is doc
    raw = orjson.dumps(doc)
    assert policy.redact_json(raw) is raw


def test_keys_are_redacted_as_text_too() -> None:
    token = _seed("github_token").secret
    assert policy.redact_value({token: 1}) == {marker("github_token", token): 1}


def test_sensitive_fields_become_markers_whatever_their_type() -> None:
    plan_policy = policy.with_fields(["ssn", "Patient"])
    doc = {
        "ssn": "123-45-6789",
        "nested": [{"SSN": 5}, {"patient": {"name": "Ada", "dob": "1815-12-10"}}],
        "other": "kept",
    }
    out = plan_policy.redact_value(doc)
    assert out == {
        "ssn": marker(SENSITIVE_KIND, '"123-45-6789"'),
        "nested": [
            {"SSN": marker(SENSITIVE_KIND, "5")},
            {"patient": marker(SENSITIVE_KIND, '{"dob":"1815-12-10","name":"Ada"}')},
        ],
        "other": "kept",
    }
    assert plan_policy.redact_value(out) == out  # markers are not redacted again
    assert policy.redact_value(doc) is doc  # the base policy is unchanged
    assert plan_policy.sensitive_fields == {"ssn", "patient"}
    raw = orjson.dumps(doc)
    assert orjson.loads(plan_policy.redact_json(raw)) == out
    assert policy.redact_json(raw) is raw
    assert plan_policy.redact_value("123-45-6789", field="ssn") == out["ssn"]


def test_prompts_are_kept_only_as_hash_and_length() -> None:
    messages = [
        {"role": "system", "content": "You are a careful planner."},
        {"role": "user", "content": "Plan the migration."},
    ]
    doc = {"prompt": "Write a poem", "messages": messages, "prompt_tokens": 9}
    out = policy.redact_value(doc)
    canonical = orjson.dumps(messages, option=orjson.OPT_SORT_KEYS).decode()
    chars = sum(len(v) for m in messages for v in m.values())
    assert out == {
        "prompt": f"[redacted:{PROMPT_KIND}:{_h8('Write a poem')} len=12]",
        "messages": f"[redacted:{PROMPT_KIND}:{_h8(canonical)} len={chars}]",
        "prompt_tokens": 9,
    }
    assert policy.redact_value(out) == out
    assert policy.redact_value({"prompt": ""}) == {"prompt": ""}
    raw = orjson.dumps(doc)
    assert orjson.loads(policy.redact_json(raw)) == out


def test_a_plan_can_opt_in_to_keeping_prompts_but_not_their_secrets() -> None:
    seed = _seed("openai_key")
    doc = {"prompt": f"Use {seed.text} to call the model"}
    for keeping in (RedactionPolicy(keep_prompts=True), policy.with_fields([], keep_prompts=True)):
        assert keeping.keep_prompts
        out = keeping.redact_value(doc)
        assert out["prompt"].startswith("Use OPENAI_API_KEY=[redacted:openai_key:")
    custom = RedactionPolicy(prompt_fields=("instructions",))
    assert custom.redact_value({"instructions": "x", "prompt": "y"})["prompt"] == "y"


def test_extra_patterns_add_kinds() -> None:
    custom = RedactionPolicy(extra_patterns={"employee_id": r"EMP-(?P<s>[0-9]{6})"})
    assert custom.redact_text("owner EMP-123456") == f"owner EMP-{marker('employee_id', '123456')}"
    raw = b'{"owner": "EMP-123456"}'
    assert b"123456" not in custom.redact_json(raw)
    with pytest.raises(ValueError, match="must match"):
        RedactionPolicy(extra_patterns={"bad kind": "x"})


# --- JSON payloads --------------------------------------------------------------------------------


def test_redact_json_returns_the_same_object_when_nothing_changes() -> None:
    clean = orjson.dumps(
        {
            "attempt": 1,
            "usage": {"tokens_in": 1532, "tokens_out": 311, "usd": 0.000912},
            "output": {"summary": "Checked the task inputs.", "task_id": str(uuid.uuid4())},
            "url": "https://api.example.com/v1/items?page=3",
        }
    )
    assert policy.redact_json(clean) is clean
    # Needles that hit without a secret (a marker, a secret key name with no secret) parse the
    # payload but still hand back the same object.
    for doc in ({"note": "[redacted:github_token:0a1b2c3d]"}, {"token": None}):
        raw = orjson.dumps(doc)
        assert policy.redact_json(raw) is raw


def test_redact_json_removes_every_seed_and_keeps_the_rest() -> None:
    doc = {"events": [{"i": i, "line": s.text} for i, s in enumerate(SEEDS)], "n": len(SEEDS)}
    raw = json.dumps(doc).encode()  # json.dumps escapes "/" never, non-ASCII and "\n" always
    out = policy.redact_json(raw)
    assert out is not raw
    assert find_any(out, SEEDS) == []
    parsed = orjson.loads(out)
    assert parsed["n"] == len(SEEDS)
    assert [e["i"] for e in parsed["events"]] == list(range(len(SEEDS)))
    assert policy.redact_json(out) is out  # idempotent, and the second pass changes nothing


def test_an_escaped_character_cannot_smuggle_a_secret_past_the_fast_path() -> None:
    token = _seed("github_token").secret
    raw = b'{"note": "\\u00' + f"{ord(token[0]):x}".encode() + token[1:].encode() + b'"}'
    assert orjson.loads(raw)["note"] == token
    out = policy.redact_json(raw)
    assert orjson.loads(out) == {"note": marker("github_token", token)}
    slashed = b'{"dsn": "postgresql:\\/\\/ledger:pw123456@db\\/ledger"}'
    assert orjson.loads(policy.redact_json(slashed)) == {
        "dsn": f"postgresql://ledger:{marker('url_password', 'pw123456')}@db/ledger"
    }


def test_invalid_json_is_redacted_as_text() -> None:
    seed = _seed("slack_token")
    raw = b"\xff\xfe not json: " + seed.text.encode()
    out = policy.redact_json(raw)
    assert out.startswith(b"\xff\xfe not json: ") and find_any(out, SEEDS) == []
    assert seed.kind.encode() in out
    clean = b"\xff{not json"
    assert policy.redact_json(clean) is clean


# --- idempotence ----------------------------------------------------------------------------------


def test_redaction_is_idempotent() -> None:
    for text in [s.text for s in SEEDS] + ["\n".join(s.text for s in SEEDS)]:
        once = policy.redact_text(text)
        assert policy.redact_text(once) == once
    doc = {"prompt": "p", "token": "abc", "line": _seed("jwt").text}
    once_value = policy.redact_value(doc)
    assert policy.redact_value(once_value) == once_value


# --- logs -----------------------------------------------------------------------------------------


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


def _logger(handler: logging.Handler) -> logging.Logger:
    log = logging.getLogger(f"test.redaction.{uuid.uuid4().hex}")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    log.addHandler(handler)
    return log


def test_log_filter_redacts_message_arguments_extras_and_tracebacks() -> None:
    handler = _Collect()
    handler.addFilter(RedactingLogFilter(policy))
    handler.setFormatter(logging.Formatter("%(message)s extra=%(detail)s"))
    log = _logger(handler)
    github, jwt, password = _seed("github_token"), _seed("jwt"), _seed("password_assignment")
    log.info(
        "cloning with %s",
        github.secret,
        extra={"detail": jwt.text, "headers": {"password": password.secret}},
    )
    try:
        raise RuntimeError(f"auth failed: {github.text}")
    except RuntimeError:
        log.exception("push failed", extra={"detail": "-"})
    assert len(handler.lines) == 2
    assert find_any("\n".join(handler.lines), SEEDS) == []
    first = handler.records[0]
    assert first.args is None
    assert first.msg == f"cloning with {marker('github_token', github.secret)}"
    assert vars(first)["headers"] == {"password": marker("password_assignment", password.secret)}
    assert (
        "RuntimeError: auth failed: export GITHUB_TOKEN=[redacted:github_token:"
        in (handler.lines[1])
    )


def test_log_filter_never_drops_a_record_even_with_bad_arguments() -> None:
    handler = _Collect()
    handler.addFilter(RedactingLogFilter())
    log = _logger(handler)
    token = _seed("npm_token").secret
    log.info("count %d", token)  # a formatting error must not leak the argument
    assert len(handler.lines) == 1 and token not in handler.lines[0]
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "plain", None, None)
    assert RedactingLogFilter().filter(record) is True


# --- properties -----------------------------------------------------------------------------------

_FILLER = st.text(alphabet=string.ascii_letters + string.digits + " .-", max_size=40)
_PART = st.one_of(st.sampled_from(SEEDS), _FILLER)


@settings(deadline=None, max_examples=150)
@given(parts=st.lists(_PART, max_size=10), sep=st.sampled_from([" ", "\n", ", ", "; ", " | "]))
def test_no_seed_secret_survives_in_text_or_json(parts: list[Seed | str], sep: str) -> None:
    text = sep.join(p.text if isinstance(p, Seed) else p for p in parts)
    used = [p for p in parts if isinstance(p, Seed)]
    redacted = policy.redact_text(text)
    assert find_any(redacted, used) == []
    assert policy.redact_text(redacted) == redacted
    lines = [p.text if isinstance(p, Seed) else p for p in parts]
    payload = orjson.dumps({"line": text, "lines": lines})
    assert find_any(policy.redact_json(payload), used) == []


# --- catastrophic backtracking --------------------------------------------------------------------

_N = 50_000
ADVERSARIAL = {
    "letters": "a" * _N,
    "upper": "A" * _N,
    "zeros": "0" * _N,
    "fours": "4" * _N,
    "hex": "0123456789abcdef" * (_N // 16),
    "dashes": "-" * _N,
    "underscores": "_" * _N,
    "dots": "." * _N,
    "ats": "@" * _N,
    "colons": ":" * _N,
    "slashes": "/" * _N,
    "spaces": " " * _N,
    "newlines": "\n" * _N,
    "quotes": '"' * _N,
    "backslashes": "\\" * _N,
    "equals": "=" * _N,
    "x_colon": "x:" * (_N // 2),
    "begin": "-----BEGIN " * (_N // 11),
    "begin_headers": "-----BEGIN RSA PRIVATE KEY-----\n" * (_N // 32),
    "pem_dashes": "-----BEGIN PRIVATE KEY-----\n" + "A-" * (_N // 2),
    "eyJ": "eyJ" * (_N // 3),
    "eyJ_dots": "eyJ" + "a." * (_N // 2),
    "jwt_segments": ("eyJ" + "a" * 20 + ".") * (_N // 24),
    "url_colons": "://" + "a:" * (_N // 2),
    "url_no_at": "https://" + "a" * _N + ":" + "b" * _N,
    "url_repeat": "s://u:p" * (_N // 7),
    "userinfo_colons": "://" + ":" * _N + "@",
    "password_eq": "password=" * (_N // 9),
    "password_spaces": "password" + " " * _N,
    "password_quotes": "password" + '"' * _N + ":",
    "password_phrase": "password: " + "a " * (_N // 2),
    "password_phrases": "password: a" * (_N // 11),
    "token_colon": "token:" * (_N // 6),
    "api_key_eq": "api_key=" * (_N // 8),
    "secret_quote": 'secret"' * (_N // 7),
    "quoted_value": 'password: "' + "\\x" * (_N // 2),
    "bearer": "Bearer " * (_N // 7),
    "bearer_long": "Bearer " + "a" * _N,
    "authorization": "Authorization: " * (_N // 15),
    "sk_dashes": "sk-" * (_N // 3),
    "sk_long": "sk-" + "a-" * (_N // 2),
    "ghp": "ghp_" * (_N // 4),
    "ghp_long": "ghp_" + "a" * _N,
    "akia": "AKIA" * (_N // 4),
    "sg": "SG." * (_N // 3),
    "hooks": "hooks.slack.com/services/" * (_N // 25),
    "card_spaces": "4111 " * (_N // 5),
    "card_dashes": "4111-" * (_N // 5),
    "digit_space": "1 " * (_N // 2),
    "camel": "aA" * (_N // 2),
    "key_names": "api_key_secret_token_" * (_N // 21),
    "mixed": "ghp_aA0-_.:@/=\"' " * (_N // 17),
    "kelvin_key": "\u212aey=" * (_N // 5),  # lowercases to "key="
    "dotted_i": "\u0130" * _N,  # lowercasing changes the length
    "markers": "token: [redacted:github_token:0a1b2c3d] " * (_N // 40),
    **{f"seed_{i}_{s.kind}": (s.text * (_N // len(s.text) + 1))[:_N] for i, s in enumerate(SEEDS)},
}


CEILING_S = 2.0


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_patterns_stay_linear_on_adversarial_input(name: str) -> None:
    """Linear patterns take milliseconds here; a catastrophic one would take minutes. The
    ceiling is well above the milliseconds, so a loaded CI machine's stall is not taken for
    backtracking (a 0.57 s stall on a call that takes ~10 ms failed a CI run at 0.5 s)."""
    text = ADVERSARIAL[name]
    low = text.lower()
    for rule in RULES:
        runs = [(rule.pattern, text), (rule.pattern, low)]
        if rule.folded is not None:
            runs.append((rule.folded, text))
        for pattern, target in runs:
            started = time.perf_counter()
            for _ in pattern.finditer(target):
                pass
            elapsed = time.perf_counter() - started
            assert elapsed < CEILING_S, f"{rule.kind} took {elapsed:.2f}s on {name}"
    for redact in (
        lambda: policy.redact_text(text),
        lambda: policy.redact_json(text.encode("utf-8", "surrogatepass")),
        lambda: policy.redact_json(orjson.dumps({"k": text})),
    ):
        started = time.perf_counter()
        redact()
        elapsed = time.perf_counter() - started
        assert elapsed < CEILING_S, f"redaction took {elapsed:.2f}s on {name}"
