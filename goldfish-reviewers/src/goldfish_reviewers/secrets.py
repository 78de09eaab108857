"""Keep secrets out of everything sent to a model.

Three nets, applied to the final prompt text so nothing slips past a code path that forgot:

* the *values* of environment variables whose names say key/token/secret/password (or that look
  like keys: long, high-entropy, with provider prefixes), wherever they appear;
* values of mapping keys named like ``*key*``, ``*token*``, ``*secret*``, ``*password*`` in stage
  configs (replaced before the config is rendered);
* literal token shapes (``sk-…``, ``AKIA…``, ``ghp_…``, JWTs, ``Bearer …``) anywhere in code or
  text.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "[REDACTED]"
SECRET_NAME = re.compile(r"(?i)(key|token|secret|passw(or)?d|passphrase|credential)")
#: Shapes of real credentials from common providers.
TOKEN_SHAPES = [
    re.compile(r"\bsk-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_\-]{16,}"),
    re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    re.compile(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"),
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{30,}\b"),
    re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b"),
    re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}\b"),
    re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
    re.compile(r"\beyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}"),
    re.compile(r"(?i)\bBearer\s+[A-Za-z0-9._\-]{16,}"),
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"),
]
_KEYLIKE = re.compile(r"^[A-Za-z0-9_\-+/=.:]{20,}$")
MIN_SECRET_LEN = 8


def _looks_like_key(value: str) -> bool:
    """Long, no spaces, mixing letters and digits: how keys and tokens look, not paths or words."""
    if not _KEYLIKE.match(value) or value.startswith(("/", "http://", "https://")):
        return False
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def env_secrets(environ: Mapping[str, str] | None = None) -> set[str]:
    """Values in the environment that are (or look like) credentials."""
    env = os.environ if environ is None else environ
    out = set()
    for name, value in env.items():
        value = value.strip()
        if len(value) < MIN_SECRET_LEN:
            continue
        if SECRET_NAME.search(name) or _looks_like_key(value) or \
                any(p.search(value) for p in TOKEN_SHAPES):
            out.add(value)
    return out


def scrub_config(value: Any) -> Any:
    """A copy of a config with the values of secret-named keys replaced."""
    if isinstance(value, Mapping):
        return {k: (REDACTED if isinstance(k, str) and SECRET_NAME.search(k)
                    and isinstance(v, (str, int, float)) and not isinstance(v, bool)
                    and v != "" else scrub_config(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_config(v) for v in value]
    return value


def config_secrets(value: Any) -> set[str]:
    """The values of secret-named keys in a config, to be redacted wherever else they show up
    (a stage that prints its config puts them in the log)."""
    out: set[str] = set()
    if isinstance(value, Mapping):
        for k, v in value.items():
            if isinstance(k, str) and SECRET_NAME.search(k) and isinstance(v, str) \
                    and len(v) >= MIN_SECRET_LEN:
                out.add(v)
            else:
                out |= config_secrets(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            out |= config_secrets(v)
    return out


_ASSIGN = re.compile(
    r"""(?im)^(?P<lead>\s*[-\w."']*?(?:api[_-]?key|apikey|token|secret|passw(?:or)?d|"""
    r"""credential)[\w"']*\s*[:=]\s*)(?P<q>["']?)(?P<val>[^\s"'#,]{8,})(?P=q)""")


class Scrubber:
    """Redacts known secret values and token shapes from text."""

    def __init__(self, extra: set[str] | None = None, environ: Mapping[str, str] | None = None):
        values = env_secrets(environ) | {v for v in (extra or set()) if len(v) >= MIN_SECRET_LEN}
        self.values = sorted(values, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, REDACTED)
        for shape in TOKEN_SHAPES:
            text = shape.sub(REDACTED, text)
        return _ASSIGN.sub(_redact_assignment, text)


def _redact_assignment(m: re.Match[str]) -> str:
    value = m["val"]
    if len(value) < MIN_SECRET_LEN or not (_looks_like_key(value) or m["q"]):
        return m[0]
    return f"{m['lead']}{m['q']}{REDACTED}{m['q']}"
