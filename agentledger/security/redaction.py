"""The one redaction policy (SPEC 1.6): secrets, raw prompts and sensitive inputs become markers
before anything reaches disk, logs, event streams or exports.

A redacted value becomes ``[redacted:<kind>:<8 hex of sha256>]``, so equal values still compare
equal. Ingestion redacts every event payload, so scanning has two stages: a few prefilter
regexes, each anchored on a rare character, find which rules' needles occur (microseconds for
a clean payload of a few hundred bytes), and only those rules run. A JSON payload with no needle is
returned as it is, unparsed. Every pattern is linear: a token may not start inside a run of its
own characters, and every repetition is bounded or cannot split its input two ways.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

import orjson

PROMPT_KIND = "prompt"
SENSITIVE_KIND = "sensitive"
DEFAULT_PROMPT_FIELDS = ("prompt", "prompts", "system_prompt", "messages", "raw_prompt")

_S = r"[_\-. ]"  # between the words of a key name
# Between a key name and its value: maybe a closing quote (escaped in nested JSON), : or =.
_ASSIGN = r"""\\?["']?[ \t]*[:=][ \t]*\\?"""
# Values that are not secrets: references to one (SPEC 1.6), templates, masks, JSON literals.
_KEEP = r"(?!secret://|\$\{|\*{3}|(?:null|none|true|false)(?![a-z0-9]))"
_QUOTED = rf""""{_KEEP}(?P<s>(?:[^"\\\r\n]|\\(?!")){{1,4096}})|'{_KEEP}(?P<s2>[^'\r\n]{{1,4096}})"""
_WORD = r"""[^\s"'&,;<>{}\[\]()\\]"""
_VALUE = rf"(?:{_QUOTED}|{_KEEP}(?P<s3>{_WORD}{{1,4096}}))"
# Passwords may hold spaces: after "password:" (YAML, headers) an unquoted value runs to the end
# of the line or a delimiter; after "password=" (env, query, flags) it is one word.
_PHRASE_ASSIGN = r"""\\?["']?[ \t]*(?:(?P<colon>:)|=)[ \t]*\\?"""
_PHRASE = (
    rf"(?:{_QUOTED}|{_KEEP}(?P<s3>(?(colon){_WORD}(?:[^\r\n\"'&,;<>{{}}\[\]()\\]{{0,4094}}{_WORD})?"
    rf"|{_WORD}{{1,4096}})))"
)
_GAP = r"""(?=[\s"'\\t]*[:=])"""  # a needle's confirmation that a key name is being assigned
_KEY_NAMES = "|".join(  # ...key names, as lookbehinds at the "key" that ends them
    rf"(?<={w}{_S}key)|(?<={w}key)" for w in ("api", "secret", "access", "auth", "private")
)
_AWS_SECRET = "|".join(rf"(?<=secret{a}access{b}key)" for a in (_S, "") for b in (_S, ""))
_PEM = r"[A-Za-z0-9+/=\s:,.\\]"  # base64 body and armor headers ("Proc-Type: 4,ENCRYPTED")
_PEM_LABEL = r"[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----"
_CARD_IIN = re.compile(r"4|5[1-5]|2[2-7]|3[47]|3[0689]|6[05]")


def _is_card(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    if not 13 <= len(digits) <= 19 or not _CARD_IIN.match(number):
        return False
    return (sum(digits[-1::-2]) + sum(sum(divmod(2 * d, 10)) for d in digits[-2::-2])) % 10 == 0


# (kind, needle, confirm, pattern, on lowercased text). A rule runs only when its needle, and
# the confirming regex (which starts with the needle), occur in the lowercased text. Patterns
# start with a literal, which sre searches fast; the lookbehind right after a token's prefix
# keeps it from starting inside a run of its own characters. The secret is group s, s2 or s3
# when there is one, else the match. Order is priority: of two findings starting at the same
# place, the first row wins. Needles also cover the secret key names of _KEY_RULES.
_RULE_TABLE: tuple[tuple[str, str, str | None, str, bool], ...] = (
    ("private_key", "-----begin", None, rf"-----BEGIN{_PEM_LABEL}{_PEM}*(?:-(?!----){_PEM}*)*(?:-----END{_PEM_LABEL})?", False),
    ("jwt", "eyj", None, r"eyJ(?<![A-Za-z0-9_-]eyJ)[A-Za-z0-9_-]{12,8192}\.eyJ[A-Za-z0-9_-]{5,65536}\.[A-Za-z0-9_-]{0,8192}(?![A-Za-z0-9_-])", False),
    ("aws_access_key_id", "akia", None, r"AKIA(?<![A-Za-z0-9]AKIA)[A-Z0-9]{16}(?![A-Za-z0-9])", False),
    ("aws_access_key_id", "asia", None, r"ASIA(?<![A-Za-z0-9]ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])", False),
    ("aws_secret_access_key", "key", rf"key(?:{_S}?id)?{_GAP}", rf"key(?:{_AWS_SECRET}){_ASSIGN}[\"']?(?P<s>[a-z0-9/+]{{40}})(?![a-z0-9/+=])", True),
    ("gcp_api_key", "aiza", None, r"AIza(?<![A-Za-z0-9_-]AIza)[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])", False),
    ("gcp_service_account_key", "key", rf"key(?:{_S}?id)?{_GAP}", r'"private_key_id"[ \t]*:[ \t]*"(?P<s>[0-9a-f]{40})"', False),
    ("azure_storage_key", "key", rf"key(?:{_S}?id)?{_GAP}", r"accountkey[ \t]*=[ \t]*(?P<s>[a-z0-9+/]{86}==)", True),
    ("github_token", "gh", r"gh[pousr]_", r"gh(?<![A-Za-z0-9_]gh)[pousr]_[A-Za-z0-9]{36,255}(?![A-Za-z0-9_])", False),
    ("github_token", "github_pat_", None, r"github_pat_(?<![A-Za-z0-9_]github_pat_)[A-Za-z0-9_]{22,255}(?![A-Za-z0-9_])", False),
    ("gitlab_token", "gl", r"gl(?:pat|ptt|dt|rt|soat)-", r"gl(?<![A-Za-z0-9_-]gl)(?:pat|ptt|dt|rt|soat)-[A-Za-z0-9_-]{20,255}(?![A-Za-z0-9_-])", False),
    ("slack_token", "xox", None, r"xox(?<![A-Za-z0-9_-]xox)[abposr]-[A-Za-z0-9-]{10,255}(?![A-Za-z0-9-])", False),
    ("slack_webhook", "hooks.slack.com", None, r"hooks\.slack\.com/(?:services|workflows|triggers)/(?P<s>[A-Za-z0-9_/+-]{20,300})", False),
    ("stripe_key", "k_", r"k_(?:live|test)_", r"sk_(?<![A-Za-z0-9_]sk_)(?:live|test)_[A-Za-z0-9]{16,247}(?![A-Za-z0-9])", False),
    ("stripe_key", "k_", r"k_(?:live|test)_", r"rk_(?<![A-Za-z0-9_]rk_)(?:live|test)_[A-Za-z0-9]{16,247}(?![A-Za-z0-9])", False),
    ("anthropic_key", "sk", r"sk(?:-|[0-9a-f]{32})", r"sk-ant-(?<![A-Za-z0-9_-]sk-ant-)[A-Za-z0-9_-]{20,400}(?![A-Za-z0-9_-])", False),
    ("openai_key", "sk", r"sk(?:-|[0-9a-f]{32})", r"sk-(?<![A-Za-z0-9_-]sk-)(?!ant-)(?:(?:proj|svcacct|admin)-)?(?=[A-Za-z_-]{0,60}[0-9])[A-Za-z0-9_-]{20,400}(?![A-Za-z0-9_-])", False),
    ("google_oauth_token", "ya29.", None, r"ya29\.(?<![A-Za-z0-9_.-]ya29\.)[0-9A-Za-z_-]{20,2048}(?![A-Za-z0-9_-])", False),
    ("twilio_key", "sk", r"sk(?:-|[0-9a-f]{32})", r"SK(?<![A-Za-z0-9]SK)[0-9a-f]{32}(?![A-Za-z0-9])", False),
    ("sendgrid_key", "sg.", None, r"SG\.(?<![A-Za-z0-9_-]SG\.)[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])", False),
    ("npm_token", "npm_", None, r"npm_(?<![A-Za-z0-9_]npm_)[A-Za-z0-9]{36}(?![A-Za-z0-9])", False),
    ("pypi_token", "pypi-", None, r"pypi-(?<![A-Za-z0-9_-]pypi-)AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,1000}(?![A-Za-z0-9_-])", False),
    ("huggingface_token", "hf_", None, r"hf_(?<![A-Za-z0-9_]hf_)[A-Za-z0-9]{34,40}(?![A-Za-z0-9_])", False),
    ("digitalocean_token", "_v1_", None, r"do(?<![A-Za-z0-9_]do)[por]_v1_[a-f0-9]{64}(?![A-Za-z0-9])", False),
    ("shopify_token", "shp", r"shp(?:at|ca|pa|ss)_", r"shp(?<![A-Za-z0-9_]shp)(?:at|ca|pa|ss)_[a-fA-F0-9]{32}(?![A-Za-z0-9])", False),
    ("mailgun_key", "key", r"key-[0-9a-f]{32}", r"key-(?<![A-Za-z0-9_-]key-)[0-9a-f]{32}(?![A-Za-z0-9])", False),
    ("heroku_key", "hrku-", None, r"HRKU-AA(?<![A-Za-z0-9_-]HRKU-AA)[0-9A-Za-z_-]{58}(?![A-Za-z0-9_-])", False),
    ("databricks_token", "dapi", None, r"dapi(?<![A-Za-z0-9_]dapi)[a-f0-9]{32}(?:-[0-9])?(?![A-Za-z0-9])", False),
    ("docker_hub_token", "dckr_", None, r"dckr_pat_(?<![A-Za-z0-9_]dckr_pat_)[A-Za-z0-9_-]{27,64}(?![A-Za-z0-9_-])", False),
    ("url_password", "@", r":\\?/\\?/[^\s/@\"]{0,1200}@", r":\\?/\\?/[^\s:/@?#\"'<>\\]{0,256}:(?P<s>[^\s/@?#\"'<>\\]{1,256})@", False),
    ("authorization_header", "authorization", None, rf"authorization{_ASSIGN}[\"']?(?:(?:bearer|basic|token|digest|bot|apikey|negotiate|ntlm)[ \t]+)?{_KEEP}(?P<s>[^\s\"',;\\]{{1,8192}})", True),
    ("authorization_header", "bearer", None, r"bearer(?<![a-z0-9]bearer)[ \t]+(?=[a-z._~+/=-]{0,64}[0-9])(?P<s>[a-z0-9._~+/=-]{16,8192})", True),
    ("password_assignment", "pass", rf"pass(?:word|wd|phrase){_GAP}", rf"pass(?:word|wd|phrase){_PHRASE_ASSIGN}{_PHRASE}", True),
    ("password_assignment", "pwd", rf"pwd{_GAP}", rf"pwd{_PHRASE_ASSIGN}{_PHRASE}", True),
    ("api_key_assignment", "key", rf"key(?:{_S}?id)?{_GAP}", rf"key(?:{_KEY_NAMES}){_ASSIGN}{_VALUE}", True),
    ("api_key_assignment", "secret", rf"secret{_GAP}", rf"secret(?!://){_ASSIGN}{_VALUE}", True),
    ("api_key_assignment", "token", rf"token{_GAP}", rf"token(?<!page_token)(?<!next_token){_ASSIGN}{_VALUE}", True),
    # No needle: digits are checked by _CARD_SHAPES, the number by Luhn.
    ("credit_card", "", None, r"(?<![\w.])(?:[0-9]{13,19}|[0-9]{4}(?:[ -][0-9]{4}){2}[ -][0-9]{1,7}|[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5})(?![\w-])", False),
)  # fmt: skip
# Card numbers: digits become 0 and separators "-", so every card format leaves one of these.
_CARD_DIGITS = bytes.maketrans(b"0123456789 -", b"0000000000--")
_CARD_SHAPES = (b"0" * 13, b"0000-0000-0000", b"0000-000000-0000")
# In raw JSON an escaped ASCII character ("\u0067hp_...") could hide a needle.
_ESCAPED_ASCII = re.compile(r"\\u00[0-7]")
_MARKER = re.compile(r"\[redacted:[A-Za-z0-9_.-]+:[0-9a-f]{8}(?: len=[0-9]+)?\]")
_PROMPT_MARKER = re.compile(r"\[redacted:prompt:[0-9a-f]{8} len=[0-9]+\]")
# Dict keys whose values are secrets, matched on snake_case names (camelCase is split first).
_KEY_RULES = tuple(
    (re.compile(rx), kind)
    for rx, kind in (
        (r"(?:^|_)(?:password|passwd|pwd|passphrase)$", "password_assignment"),
        (r"(?:^|_)authorization$", "authorization_header"),
        (r"(?:^|_)private_key_id$", "gcp_service_account_key"),
        (r"(?:^|_)private_key$", "private_key"),
        (r"(?:^|_)secret_access_key$", "aws_secret_access_key"),
        (r"(?:^|_)(?:page|next)_token$", ""),  # pagination cursors
        (r"(?:^|_)(?:api_?key|secret|secret_key|token|access_key|auth_key)$", "api_key_assignment"),
    )
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_KEY_SEPARATORS = re.compile(r"[-. ]")
_NO_PATTERNS: Mapping[str, str] = MappingProxyType({})

KINDS: tuple[str, ...] = tuple(dict.fromkeys(row[0] for row in _RULE_TABLE))


@dataclass(frozen=True, slots=True)
class Rule:
    """One secret pattern. `lower`: it runs on the lowercased text (`folded`, the same pattern
    ignoring case, runs when lowercasing changed the length); `check` confirms a finding."""

    kind: str
    pattern: re.Pattern[str]
    lower: bool = False
    folded: re.Pattern[str] | None = None
    check: Callable[[str], bool] | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """Where a secret's value is in a text (the part redaction replaces)."""

    kind: str
    start: int
    end: int


@dataclass
class RedactionReport:
    """How many values of each kind were redacted (an export's redaction report)."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, counts: Mapping[str, int]) -> None:
        self.counts.update(counts)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))


RULES: tuple[Rule, ...] = tuple(
    Rule(
        kind,
        re.compile(rx, re.ASCII),
        lower,
        re.compile(rx, re.ASCII | re.IGNORECASE) if lower else None,
        _is_card if kind == "credit_card" else None,
    )
    for kind, _, _, rx, lower in _RULE_TABLE
)
_CARD_RULE = next(i for i, row in enumerate(_RULE_TABLE) if not row[1])  # the needle-less one
_Check = tuple["re.Pattern[str] | None", frozenset[int]]
_Needle = tuple[str, tuple[_Check, ...]]
_RARITY = "@jzqxkvwybfgp_-.:/hmdculsrnoitae"  # rarest first, in payloads and logs


def _group_needles() -> tuple[_Needle, ...]:
    """needle -> [(confirm, the rules it stands for: indexes into RULES)], each needle once."""
    groups: dict[str, dict[str | None, set[int]]] = {}
    for i, (_, needle, confirm, _, _) in enumerate(_RULE_TABLE):
        if needle:
            groups.setdefault(needle, {}).setdefault(confirm, set()).add(i)
    return tuple(
        (needle, tuple((_compile(c), frozenset(r)) for c, r in checks.items()))
        for needle, checks in groups.items()
    )


def _compile(rx: str | None) -> re.Pattern[str] | None:
    return None if rx is None else re.compile(rx, re.ASCII)


def _prefilters() -> tuple[tuple[str, re.Pattern[str], tuple[_Needle, ...]], ...]:
    """One regex per rare anchor character for all the needles holding it: sre jumps from one
    occurrence of the anchor to the next, then looks behind and ahead for each needle (and its
    confirmation). A text without a hit cannot hold any of these needles, at about half the
    cost of testing them one by one."""
    groups: dict[str, list[tuple[str, _Needle]]] = {}
    for entry in _NEEDLES:
        needle, checks = entry
        anchor = min(needle, key=lambda c: _RARITY.find(c) % (len(_RARITY) + 1))
        i = needle.index(anchor)
        for confirm, _ in checks:
            tail = confirm.pattern if confirm is not None else ""
            tail = tail[len(re.escape(needle)) :] if tail.startswith(re.escape(needle)) else ""
            behind = f"(?<={re.escape(needle[: i + 1])})" if i else ""
            groups.setdefault(anchor, []).append(
                (f"{behind}(?={re.escape(needle[i + 1 :])}{tail})", entry)
            )
    return tuple(
        (
            anchor,
            re.compile(f"{re.escape(anchor)}(?:{'|'.join(a for a, _ in alts)})", re.ASCII),
            tuple(dict.fromkeys(e for _, e in alts)),
        )
        for anchor, alts in groups.items()
    )


_NEEDLES = _group_needles()
_PREFILTERS = _prefilters()


def marker(kind: str, value: str) -> str:
    """The stand-in for a redacted value: its kind and a short hash (equal values, equal ones)."""
    return f"[redacted:{kind}:{_hash8(value)}]"


def _hash8(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _candidates(low: str, text: str | bytes, among: frozenset[int] | None) -> frozenset[int]:
    """The rules whose needles are in `text` (`low`: it lowercased), looking only for rules
    `among` those already found in the document it comes from (then the texts are short)."""
    if among is None:
        found: set[int] = set()
        for anchor, prefilter, needles in _PREFILTERS:
            if anchor in low and prefilter.search(low):
                found |= _matching(low, needles)
    else:
        found = _matching(low, _needles_for(among))
    if among is None or _CARD_RULE in among:
        raw = text.encode("ascii", "ignore") if isinstance(text, str) else text
        digits = raw.translate(_CARD_DIGITS)
        if b"0000" in digits and any(shape in digits for shape in _CARD_SHAPES):
            found.add(_CARD_RULE)
    return frozenset(found) if among is None else among.intersection(found)


def _matching(low: str, needles: tuple[_Needle, ...]) -> set[int]:
    found: set[int] = set()
    for needle, checks in needles:
        if needle in low:
            for confirm, rules in checks:
                if confirm is None or confirm.search(low):
                    found |= rules
    return found


@lru_cache(maxsize=256)
def _needles_for(rules: frozenset[int]) -> tuple[_Needle, ...]:
    return tuple(
        (needle, kept)
        for needle, checks in _NEEDLES
        if (kept := tuple(c for c in checks if rules.intersection(c[1])))
    )


def _key_kind(key: str) -> str:
    """The secret kind of a dict key's value, or "" (``dbPassword``, ``X-Api-Key``, ``token``)."""
    name = _KEY_SEPARATORS.sub("_", _CAMEL.sub("_", key)).lower()
    return next((kind for rx, kind in _KEY_RULES if rx.search(name)), "")


def _is_placeholder(value: str) -> bool:
    """A value under a secret key that is no secret: a reference, template, mask or marker."""
    low = value.lower()
    return (
        low.startswith(("secret://", "${", "***"))
        or low in ("null", "none", "true", "false")
        or _MARKER.fullmatch(value) is not None
    )


def _string_chars(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_string_chars(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(_string_chars(v) for v in value)
    return 0


def _canonical(value: Any) -> str:
    option = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
    return orjson.dumps(value, default=str, option=option).decode()


class RedactionPolicy:
    """Finds secrets in text and JSON-like values and replaces them by markers."""

    def __init__(
        self,
        *,
        sensitive_fields: Iterable[str] = (),
        keep_prompts: bool = False,
        prompt_fields: Iterable[str] = DEFAULT_PROMPT_FIELDS,
        extra_patterns: Mapping[str, str] = _NO_PATTERNS,
    ) -> None:
        """`extra_patterns`: kind -> regex (its group ``s``, if any, is the secret); they run on
        every text and turn off the unparsed fast path of `redact_json`."""
        for kind in extra_patterns:
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", kind):
                raise ValueError(f"redaction kind {kind!r} must match [A-Za-z0-9_.-]+")
        self._extra = tuple(Rule(k, re.compile(rx)) for k, rx in extra_patterns.items())
        self._sensitive = frozenset(f.lower() for f in sensitive_fields)
        self._prompt_fields = frozenset(f.lower() for f in prompt_fields)
        self._keep_prompts = keep_prompts
        self._fast = self._fast_path()
        self._keys: dict[str, tuple[str | None, tuple[str, ...], str]] = {}

    @property
    def sensitive_fields(self) -> frozenset[str]:
        return self._sensitive

    @property
    def keep_prompts(self) -> bool:
        return self._keep_prompts

    def with_fields(
        self, sensitive_fields: Iterable[str], *, keep_prompts: bool | None = None
    ) -> RedactionPolicy:
        """A copy that also redacts these fields (a plan's sensitive inputs)."""
        copy = object.__new__(RedactionPolicy)
        copy._extra = self._extra
        copy._sensitive = self._sensitive | {f.lower() for f in sensitive_fields}
        copy._prompt_fields = self._prompt_fields
        copy._keep_prompts = self._keep_prompts if keep_prompts is None else keep_prompts
        copy._fast = copy._fast_path()
        copy._keys = {}
        return copy

    def _fast_path(self) -> tuple[str, ...] | None:
        """What a raw JSON key of a sensitive or prompt field contains (its name and closing
        quote; ``prompt"`` also stands for ``raw_prompt"``): with no needle and none of these,
        a payload is kept unparsed. None when every payload must be walked (extra patterns,
        non-ASCII field names)."""
        fields = self._sensitive | (frozenset() if self._keep_prompts else self._prompt_fields)
        if self._extra or not all(f.isascii() for f in fields):
            return None
        kept: list[str] = []
        for name in sorted((orjson.dumps(f).decode()[1:] for f in fields), key=len):
            if not any(k in name for k in kept):
                kept.append(name)
        return tuple(kept)

    def scan(self, text: str) -> list[Finding]:
        """The secrets in a text: sorted, non-overlapping, never inside a marker."""
        return self._scan(text, None)

    def _scan(self, text: str, among: frozenset[int] | None) -> list[Finding]:
        """`among`: the candidate rules of the document this text comes from, when known."""
        low = text.lower()
        candidates = _candidates(low, text, among)
        if not candidates and not self._extra:
            return []
        refolded = len(low) != len(text)  # rare: then lowercase rules match the text ignoring case
        found: list[tuple[int, int, int, str]] = []
        for priority in sorted(candidates):
            rule = RULES[priority]
            if rule.lower and rule.folded is not None:
                pattern, target = (rule.folded, text) if refolded else (rule.pattern, low)
            else:
                pattern, target = rule.pattern, text
            self._find(rule, pattern, target, text, priority, found)
        for i, rule in enumerate(self._extra):
            self._find(rule, rule.pattern, text, text, len(RULES) + i, found)
        if not found:
            return []
        markers = [m.span() for m in _MARKER.finditer(text)] if "[redacted:" in text else []
        found.sort()
        out: list[Finding] = []
        last = i = 0
        for start, _, end, kind in found:
            while i < len(markers) and markers[i][1] <= start:
                i += 1  # markers[i]: the first marker that ends after this finding starts
            if start >= last and not (i < len(markers) and markers[i][0] < end):
                out.append(Finding(kind, start, end))
                last = end
        return out

    @staticmethod
    def _find(
        rule: Rule,
        pattern: re.Pattern[str],
        target: str,
        text: str,
        priority: int,
        found: list[tuple[int, int, int, str]],
    ) -> None:
        groups = [g for g in ("s", "s2", "s3") if g in pattern.groupindex]
        for m in pattern.finditer(target):
            start, end = next((m.span(g) for g in groups if m.start(g) >= 0), m.span())
            if end > start and (rule.check is None or rule.check(text[start:end])):
                found.append((start, priority, end, rule.kind))

    def redact_text(self, text: str) -> str:
        """The text with each secret replaced by its marker (the same object if none)."""
        return self._text(text, {}, None)

    def redact_text_counted(self, text: str) -> tuple[str, dict[str, int]]:
        """`redact_text`, and how many values of each kind it replaced."""
        counts: dict[str, int] = {}
        return self._text(text, counts, None), counts

    def redact_value(
        self, value: Any, *, field: str | None = None, report: RedactionReport | None = None
    ) -> Any:
        """A JSON-like value redacted recursively (`field`: the key it sits under); unchanged
        values and containers are returned as they are."""
        counts: dict[str, int] = {}
        out = self._walk(value, "" if field is None else self._key(field)[2], counts, None)
        if report is not None:
            report.add(counts)
        return out

    def redact_json(self, payload: bytes) -> bytes:
        """A JSON document redacted (as text if it is not JSON): `payload` itself when nothing
        changed, so that callers can skip re-encoding with an ``is`` test."""
        among = None
        if self._fast is not None:
            low = payload.decode("latin-1").lower()  # a char per byte: needles stay ASCII
            among = _candidates(low, payload, None)
            if "\\" in low and _ESCAPED_ASCII.search(low):
                among = None  # each string finds its own candidates
            elif not among and not any(f in low for f in self._fast):
                return payload
        try:
            doc = orjson.loads(payload)
        except orjson.JSONDecodeError:
            text = payload.decode("utf-8", "surrogateescape")
            redacted = self._text(text, {}, among)
            return payload if redacted is text else redacted.encode("utf-8", "surrogateescape")
        out = self._walk(doc, "", {}, among)
        return payload if out is doc else orjson.dumps(out)

    def _text(self, text: str, counts: dict[str, int], among: frozenset[int] | None) -> str:
        """`among` (from raw JSON): the only kinds that can occur in this text."""
        if among is not None and not among and not self._extra:
            return text
        findings = self._scan(text, among)
        if not findings:
            return text
        parts: list[str] = []
        pos = 0
        for f in findings:
            parts += (text[pos : f.start], marker(f.kind, text[f.start : f.end]))
            counts[f.kind] = counts.get(f.kind, 0) + 1
            pos = f.end
        parts.append(text[pos:])
        return "".join(parts)

    def _key(self, key: str) -> tuple[str | None, tuple[str, ...], str]:
        """A dict key redacted as text (None: unchanged), the kinds redacted in it, and the role
        of its value: SENSITIVE_KIND, PROMPT_KIND, a secret kind (``password``, ``apiKey``...)
        or "". Remembered, since payloads repeat their keys."""
        known = self._keys.get(key)
        if known is None:
            if len(self._keys) >= 4096:
                self._keys.clear()
            counts: dict[str, int] = {}
            text = self._text(key, counts, None)
            name = key.lower()
            if name in self._sensitive:
                role = SENSITIVE_KIND
            elif name in self._prompt_fields and not self._keep_prompts:
                role = PROMPT_KIND
            else:
                role = _key_kind(key)
            kinds = tuple(kind for kind, n in counts.items() for _ in range(n))
            known = self._keys[key] = (None if text is key else text, kinds, role)
        return known

    def _walk(
        self, value: Any, role: str, counts: dict[str, int], among: frozenset[int] | None
    ) -> Any:
        """`role`: see `_key`; `among` as for `_text`. When `among` is empty no key name is a
        secret's either (the needles cover those names): only fields and prompts remain."""
        if role == SENSITIVE_KIND:
            if isinstance(value, str) and _MARKER.fullmatch(value):
                return value
            counts[role] = counts.get(role, 0) + 1
            return marker(role, _canonical(value))
        if role == PROMPT_KIND:
            return self._prompt(value, counts)
        if (
            role
            and (among is None or among)
            and (
                (isinstance(value, str) and value and not _is_placeholder(value))
                or (isinstance(value, (int, float)) and not isinstance(value, bool))
            )
        ):
            secret = value if isinstance(value, str) else str(value)
            whole = self._scan(secret, among)
            if len(whole) == 1 and whole[0].start == 0 and whole[0].end == len(secret):
                role = whole[0].kind  # the same marker as the value would get in text
            counts[role] = counts.get(role, 0) + 1
            return marker(role, secret)
        if isinstance(value, str):
            return self._text(value, counts, among)
        if isinstance(value, dict):
            changed = False
            items = []
            for k, v in value.items():
                if isinstance(k, str):
                    redacted_key, found, k_role = self._key(k)
                    nk = k if redacted_key is None else redacted_key
                    for kind in found:
                        counts[kind] = counts.get(kind, 0) + 1
                    nv = self._walk(v, k_role, counts, among)
                else:
                    nk, nv = k, self._walk(v, "", counts, among)
                changed = changed or nk is not k or nv is not v
                items.append((nk, nv))
            return dict(items) if changed else value
        if isinstance(value, (list, tuple)):
            new = [self._walk(v, "", counts, among) for v in value]
            if all(a is b for a, b in zip(new, value, strict=True)):
                return value
            return new if isinstance(value, list) else tuple(new)
        return value

    def _prompt(self, value: Any, counts: dict[str, int]) -> Any:
        """A raw prompt as its hash and length in characters (of all its strings, for a list of
        messages, whose hash is that of their canonical JSON)."""
        if value is None or value == "" or value == [] or value == {}:
            return value
        if isinstance(value, str):
            if _PROMPT_MARKER.fullmatch(value):
                return value
            digest, length = _hash8(value), len(value)
        else:
            digest, length = _hash8(_canonical(value)), _string_chars(value)
        counts[PROMPT_KIND] = counts.get(PROMPT_KIND, 0) + 1
        return f"[redacted:{PROMPT_KIND}:{digest} len={length}]"


DEFAULT_POLICY = RedactionPolicy()
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
}


class RedactingLogFilter(logging.Filter):
    """Redacts a log record in place (message, extra attributes, traceback); never drops one."""

    def __init__(self, policy: RedactionPolicy = DEFAULT_POLICY) -> None:
        super().__init__()
        self._policy = policy

    def filter(self, record: logging.LogRecord) -> bool:
        policy = self._policy
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must neither lose the record nor leak its args
            message = f"{record.msg} {record.args!r}"
        record.msg = policy.redact_text(message)
        record.args = None
        for name, value in list(vars(record).items()):
            if name not in _RECORD_ATTRS and isinstance(value, (str, dict, list, tuple)):
                setattr(record, name, policy.redact_value(value, field=name))
        if record.exc_info and not record.exc_text:
            # Formatters render the traceback after the filters ran: render it here to redact it.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = policy.redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = policy.redact_text(record.stack_info)
        return True
