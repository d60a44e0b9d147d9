"""PII detection for ``scrub_pii``: regex candidates, each confirmed by a real check.

Candidates are cheap regexes; a candidate counts only after validation (RRN checksum, Luhn,
``ipaddress``, ``phonenumbers``), which is what keeps order numbers, dates and version strings
out. Kinds run in a fixed order (secrets first, phones last) and each replaces its matches
before the next runs, so one span is never counted twice.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

KINDS = ("secret", "email", "rrn", "card", "ip", "phone")
PLACEHOLDER = {k: f"<{k.upper()}>" for k in KINDS}


@dataclass(frozen=True, slots=True)
class Finding:
    kind: str
    text: str
    start: int


# ---- secrets ------------------------------------------------------------------------------
_SECRET = re.compile(
    r"(?<![A-Za-z0-9_-])(?:"
    r"sk-ant-(?:api\d\d-)?[A-Za-z0-9_-]{32,}"  # Anthropic
    r"|sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{32,}"  # OpenAI
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"  # AWS access key id
    r"|gh[pousr]_[A-Za-z0-9]{36,}"  # GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{40,}"  # GitHub fine-grained PAT
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack tokens
    r")(?![A-Za-z0-9_-])"
)


def _secret_ok(text: str) -> bool:
    # a real key mixes letters and digits; "sk-aaaaaaaa..." placeholders do not
    body = text.split("-", 1)[-1] if not text.startswith(("AKIA", "ASIA")) else text[4:]
    return any(c.isdigit() for c in body) and any(c.isalpha() for c in body)


# ---- email --------------------------------------------------------------------------------
_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}(?![\w-])")


# ---- Korean resident registration number ----------------------------------------------------
_RRN = re.compile(r"(?<![\d-])(\d{2})(\d{2})(\d{2})[- ]?([1-8])(\d{6})(?![\d-])")
_RRN_WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)


def _rrn_ok(text: str) -> bool:
    digits = [int(c) for c in text if c.isdigit()]
    month, day = digits[2] * 10 + digits[3], digits[4] * 10 + digits[5]
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return False
    check = (11 - sum(d * w for d, w in zip(digits, _RRN_WEIGHTS, strict=False)) % 11) % 10
    return check == digits[12]


# ---- payment cards ------------------------------------------------------------------------
_CARD = re.compile(r"(?<![\d-])(?:\d{4}[- ]){3}\d{1,7}(?![\d-])|(?<![\d-])\d{13,19}(?![\d-])|(?<![\d-])\d{4}[- ]\d{6}[- ]\d{5}(?![\d-])")


def _luhn(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _card_ok(text: str) -> bool:
    digits = re.sub(r"\D", "", text)
    if not 13 <= len(digits) <= 19 or not _luhn(digits):
        return False
    # issuer prefixes: Visa 4, Mastercard 51-55/22-27, Amex 34/37, JCB 35, Diners 36, Discover/UnionPay 6
    return digits[0] in "3456" or 22 <= int(digits[:2]) <= 27


# ---- IP addresses -------------------------------------------------------------------------
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w+)?(?![\w:])")
_VERSION_BEFORE = re.compile(r"(?:\bv|version|ver\.?|버전|release|build|firmware|펌웨어)\s*$", re.IGNORECASE)


def _ipv4_ok(text: str, before: str) -> bool:
    if _VERSION_BEFORE.search(before[-12:]):
        return False
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        return False
    return True


def _ipv6_ok(text: str) -> bool:
    if not any(c.isalnum() for c in text) or text.count(":") < 2:
        return False
    try:
        ipaddress.IPv6Address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


# ---- phones -------------------------------------------------------------------------------
_PHONE = re.compile(r"(?<![\w+.-])(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)|\d{1,4})[ .-]?\d{3,4}[ .-]?\d{4}(?![\w-]|\.\d)")


def _phone_ok(text: str) -> bool:
    import phonenumbers

    digits = re.sub(r"\D", "", text)
    if not 9 <= len(digits) <= 15:
        return False
    if not text.startswith("+") and not digits.startswith("0"):
        return False  # domestic Korean numbers start with 0; bare digit runs are order numbers
    region = None if text.startswith("+") else "KR"
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return False
    return phonenumbers.is_valid_number(number)


# ---- driver -------------------------------------------------------------------------------
def _find(pattern: re.Pattern[str], ok: Callable[[str, str], bool]) -> Callable[[str], list[Finding]]:
    def finder(kind: str, text: str) -> list[Finding]:
        return [Finding(kind, m.group(0), m.start()) for m in pattern.finditer(text)
                if ok(m.group(0), text[: m.start()])]
    return finder  # type: ignore[return-value]


_FINDERS = {
    "secret": _find(_SECRET, lambda t, _b: _secret_ok(t)),
    "email": _find(_EMAIL, lambda _t, _b: True),
    "rrn": _find(_RRN, lambda t, _b: _rrn_ok(t)),
    "card": _find(_CARD, lambda t, _b: _card_ok(t)),
    "ip": None,  # two patterns, below
    "phone": _find(_PHONE, lambda t, _b: _phone_ok(t)),
}


def _find_ip(kind: str, text: str) -> list[Finding]:
    out = [Finding(kind, m.group(0), m.start()) for m in _IPV4.finditer(text) if _ipv4_ok(m.group(0), text[: m.start()])]
    out += [Finding(kind, m.group(0), m.start()) for m in _IPV6.finditer(text) if _ipv6_ok(m.group(0))]
    return sorted(out, key=lambda f: f.start)


_FINDERS["ip"] = _find_ip


def scrub(text: str, kinds: tuple[str, ...] | list[str] = KINDS) -> tuple[str, list[Finding]]:
    """``text`` with every PII span of ``kinds`` replaced by its placeholder, and the findings."""
    findings: list[Finding] = []
    for kind in KINDS:
        if kind not in kinds or not _may_contain(kind, text):
            continue
        found = _FINDERS[kind](kind, text)  # type: ignore[misc]
        if not found:
            continue
        findings.extend(found)
        for finding in sorted(found, key=lambda f: f.start, reverse=True):
            end = finding.start + len(finding.text)
            text = text[: finding.start] + PLACEHOLDER[kind] + text[end:]
    return text, findings


def _may_contain(kind: str, text: str) -> bool:
    """Cheap pre-checks so clean text skips the regexes."""
    if kind == "email":
        return "@" in text
    if kind == "ip":
        return "." in text or ":" in text
    if kind == "secret":
        return True
    return sum(c.isdigit() for c in text) >= 9
