"""Seeded secrets for redaction tests: realistic samples of every redaction kind, each inside the
line it would travel in, and the part of it that must vanish.

Samples are built at run time from pieces and a seeded generator, so that no secret-looking
literal sits in the repository (push protection would block it, and scanners would flag it).
"""

from __future__ import annotations

import base64
import json
import random
import string
from dataclasses import dataclass

_UPPER_DIGITS = string.ascii_uppercase + string.digits
_ALNUM = string.ascii_letters + string.digits
_URLSAFE = _ALNUM + "-_"
_BASE64 = _ALNUM + "+/"
_HEX = string.hexdigits[:16]


@dataclass(frozen=True)
class Seed:
    """`text` carries a secret of `kind`; `secret` is what must not survive redaction."""

    kind: str
    text: str
    secret: str


def _random(alphabet: str, n: int, salt: str) -> str:
    rng = random.Random(salt)
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwt() -> str:
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = _b64url(json.dumps({"sub": "agent-7", "role": "operator", "exp": 1893456000}).encode())
    signature = _b64url(random.Random("jwt").randbytes(32))
    return f"{header}.{claims}.{signature}"


def _pem(label: str, salt: str) -> tuple[str, str]:
    """A private key block and its first body line."""
    lines = [_random(_BASE64, 64, f"{salt}{i}") for i in range(6)]
    dashes = "-" * 5
    block = "\n".join([f"{dashes}BEGIN {label}{dashes}", *lines, f"{dashes}END {label}{dashes}"])
    return block, lines[0]


def _card() -> str:
    """A Luhn-valid 16-digit Visa-like number, grouped by four."""
    digits = [4, *(random.Random("card").randrange(10) for _ in range(14))]
    total = sum(d if i % 2 else sum(divmod(2 * d, 10)) for i, d in enumerate(reversed(digits)))
    number = "".join(map(str, digits)) + str((10 - total % 10) % 10)
    return " ".join(number[i : i + 4] for i in range(0, 16, 4))


def seeded_secrets() -> list[Seed]:
    """At least one sample of every kind in `redaction.KINDS` (a few kinds have variants)."""
    r = _random
    aws_id = "AK" + "IA" + r(_UPPER_DIGITS, 16, "aws-id")
    aws_temp = "AS" + "IA" + r(_UPPER_DIGITS, 16, "aws-temp")
    aws_secret = r(_BASE64, 40, "aws-secret")
    gcp_key = "AI" + "za" + r(_URLSAFE, 35, "gcp")
    gcp_key_id = r(_HEX, 40, "gcp-sa")
    azure = r(_BASE64, 86, "azure") + "=="
    github = "gh" + "p_" + r(_ALNUM, 36, "github")
    github_pat = "github" + "_pat_" + r(_ALNUM, 22, "pat1") + "_" + r(_ALNUM, 59, "pat2")
    gitlab = "gl" + "pat-" + r(_URLSAFE, 20, "gitlab")
    slack = "xo" + "xb-" + r(string.digits, 12, "s1") + "-" + r(string.digits, 13, "s2")
    slack += "-" + r(_ALNUM, 24, "s3")
    hook_path = "T" + r(_UPPER_DIGITS, 8, "h1") + "/B" + r(_UPPER_DIGITS, 8, "h2") + "/"
    hook_path += r(_ALNUM, 24, "h3")
    stripe = "sk" + "_live_" + r(_ALNUM, 24, "stripe")
    stripe_restricted = "rk" + "_test_" + r(_ALNUM, 24, "stripe-rk")
    openai = "sk" + "-proj-" + r(_URLSAFE, 30, "oa1") + "7" + r(_URLSAFE, 40, "oa2")
    anthropic = "sk" + "-ant-api03-" + r(_URLSAFE, 93, "anthropic") + "AA"
    google = "ya" + "29." + r(_URLSAFE, 80, "google")
    twilio = "S" + "K" + r(_HEX, 32, "twilio")
    sendgrid = "S" + "G." + r(_URLSAFE, 22, "sg1") + "." + r(_URLSAFE, 43, "sg2")
    npm = "np" + "m_" + r(_ALNUM, 36, "npm")
    pypi = "py" + "pi-" + "AgEIcHlwaS5vcmc" + r(_URLSAFE, 70, "pypi")
    hf = "h" + "f_" + r(string.ascii_letters, 34, "hf")
    digitalocean = "do" + "p_v1_" + r(_HEX, 64, "do")
    shopify = "shp" + "at_" + r(_HEX, 32, "shopify")
    mailgun = "ke" + "y-" + r(_HEX, 32, "mailgun")
    heroku = "HR" + "KU-AA" + r(_URLSAFE, 58, "heroku")
    databricks = "da" + "pi" + r(_HEX, 32, "databricks")
    docker = "dck" + "r_pat_" + r(_URLSAFE, 27, "docker")
    db_password = r(_ALNUM, 18, "url-password")
    basic = base64.b64encode(("admin:" + r(_ALNUM, 14, "basic")).encode()).decode()
    opaque = r(string.ascii_lowercase, 12, "o1") + "42" + r(_ALNUM, 26, "o2")
    env_password = r(_ALNUM, 16, "env-password")
    spaced_password = "correct horse " + r(string.ascii_lowercase, 8, "spaced") + " 42"
    passphrase = "open " + r(string.ascii_lowercase, 7, "phrase") + " sesame 9"
    api_key = r(_HEX, 32, "api-key")
    client_secret = r(_URLSAFE, 40, "client-secret")
    rsa, rsa_line = _pem("RSA PRIVATE KEY", "rsa")
    openssh, openssh_line = _pem("OPENSSH PRIVATE KEY", "openssh")
    pgp, pgp_line = _pem("PGP PRIVATE KEY BLOCK", "pgp")
    jwt = _jwt()
    card = _card()
    service_account = json.dumps(
        {
            "type": "service_account",
            "project_id": "ledger-ci",
            "private_key_id": gcp_key_id,
            "client_email": "ci@ledger-ci.iam.gserviceaccount.com",
        }
    )
    return [
        Seed("aws_access_key_id", f"uploading with access key {aws_id} to the bucket", aws_id),
        Seed("aws_access_key_id", f"assumed role, temporary key {aws_temp}", aws_temp),
        Seed("aws_secret_access_key", f"aws_secret_access_key = {aws_secret}", aws_secret),
        Seed("gcp_api_key", f"GOOGLE_MAPS={gcp_key}", gcp_key),
        Seed("gcp_service_account_key", service_account, gcp_key_id),
        Seed(
            "azure_storage_key",
            f"DefaultEndpointsProtocol=https;AccountName=ledgerci;AccountKey={azure};"
            "EndpointSuffix=core.windows.net",
            azure,
        ),
        Seed("github_token", f"export GITHUB_TOKEN={github}", github),
        Seed("github_token", f"using fine-grained token {github_pat} for the push", github_pat),
        Seed("gitlab_token", f"PRIVATE-TOKEN: {gitlab}", gitlab),
        Seed("slack_token", f"slack bot token {slack} posted the summary", slack),
        Seed(
            "slack_webhook",
            f"notify via https://hooks.slack.com/services/{hook_path} when done",
            hook_path,
        ),
        Seed("stripe_key", f"stripe.api_key = '{stripe}'", stripe),
        Seed("stripe_key", f"restricted key {stripe_restricted}", stripe_restricted),
        Seed("jwt", f"Authorization: Bearer {jwt}", jwt),
        Seed("private_key", rsa, rsa_line),
        Seed("private_key", json.dumps({"deploy_key": openssh}), openssh_line),
        Seed("private_key", pgp, pgp_line),
        Seed(
            "url_password",
            f"postgresql://ledger:{db_password}@db.internal:5432/ledger",
            db_password,
        ),
        Seed("authorization_header", f"Authorization: Basic {basic}", basic),
        Seed("authorization_header", f"curl -H 'X-Upstream: Bearer {opaque}'", opaque),
        Seed("password_assignment", f"DB_PASSWORD={env_password}", env_password),
        Seed(
            "password_assignment",
            json.dumps({"user": "ops", "password": spaced_password}),
            spaced_password,
        ),
        Seed("password_assignment", f"vault:\n  passphrase: {passphrase}\n", passphrase),
        Seed("api_key_assignment", f"api_key={api_key}&format=json", api_key),
        Seed("api_key_assignment", f'client_secret: "{client_secret}"', client_secret),
        Seed("openai_key", f"OPENAI_API_KEY={openai}", openai),
        Seed("anthropic_key", f'headers["x-api-key"] = "{anthropic}"', anthropic),
        Seed("google_oauth_token", f"access_token={google}&token_type=Bearer", google),
        Seed("twilio_key", f"twilio api key sid {twilio}", twilio),
        Seed("sendgrid_key", f"SENDGRID_API_KEY={sendgrid}", sendgrid),
        Seed("npm_token", f"//registry.npmjs.org/:_authToken={npm}", npm),
        Seed("pypi_token", f"[pypi]\nusername = __token__\npassword = {pypi}\n", pypi),
        Seed("huggingface_token", f"HF_TOKEN={hf}", hf),
        Seed("digitalocean_token", f"doctl auth init --access-token {digitalocean}", digitalocean),
        Seed("shopify_token", f"X-Shopify-Access-Token: {shopify}", shopify),
        Seed("mailgun_key", f"mailgun key {mailgun}", mailgun),
        Seed("heroku_key", f"heroku authorizations: {heroku}", heroku),
        Seed("databricks_token", f"databricks configure --token {databricks}", databricks),
        Seed("docker_hub_token", f"docker login -u ledger -p {docker}", docker),
        Seed("credit_card", f"charged card {card} for the run", card),
    ]


def find_any(data: bytes | str, seeds: list[Seed]) -> list[str]:
    """The kinds of the seeds whose secret still occurs in `data`, as is or JSON-escaped."""
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return sorted({s.kind for s in seeds if s.secret in text or json.dumps(s.secret)[1:-1] in text})
