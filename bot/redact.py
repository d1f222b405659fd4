"""Personal data out of text before it reaches a model: typed placeholders, stable within one prompt.

E-mail addresses, phone numbers (Google's libphonenumber, through `phonenumbers`), payment card numbers
(Luhn-checked), IBANs (mod-97 checked), Slack mentions and links are replaced by `[email 1]`,
`[phone 2]`, `[card 1]`, `[iban 1]`, `[person 1]`, `[link 1]`. The same value gets the same placeholder
throughout one prompt, so the model can still say "the customer asked to be called back on [phone 1]".
Numbers that only look like phone numbers — order and invoice ids, dates, versions, prices — stay.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import phonenumbers

# national numbers are read as these countries' formats; international ones (+44 …, 0049 …) in any
_REGIONS = ("GB", "US", "DE", "IN", "FR", "AU")

_MAILTO = re.compile(r"<mailto:([^|>]+)(?:\|[^>]*)?>")
_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
_SLACK_LINK = re.compile(r"<(https?://[^|>\s]+)(?:\|[^>]*)?>")
_URL = re.compile(r"\bhttps?://[^\s<>]+")
_CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}\b")
_DATE = re.compile(r"^\d{4}[-/.]\d{1,2}[-/.]\d{1,2}$|^\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}$")
# what comes just before a number that is an identifier, not a phone
_ID_CUE = re.compile(
    r"(#|\b(order|invoice|inv|ticket|case|id|ref|reference|po|sku|account|acct|batch|build|"
    r"version|ver|v|release|job|run|serial|tracking|customer|contract|policy|no|nr)"
    r"(\s+(number|no|nr|id))?\.?:?)\s*$",
    re.IGNORECASE,
)
# what comes before a number that is a phone
_PHONE_CUE = re.compile(
    r"\b(call|ring|phone|mobile|cell|tel|telephone|whatsapp|text|sms|reach|contact|number|"
    r"dial|landline|fax|on)\b[\s:.]*(me|us|him|her|them|at|on|is|was)?[\s:.]*$",
    re.IGNORECASE,
)


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(candidate: str) -> bool:
    s = candidate.replace(" ", "")
    if not 15 <= len(s) <= 34:
        return False
    moved = s[4:] + s[:4]
    try:
        number = int("".join(str(int(ch, 36)) for ch in moved))
    except ValueError:
        return False
    return number % 97 == 1


@dataclass
class Redactor:
    """Replaces personal data in texts of one prompt; the same value keeps its placeholder."""

    counts: Counter[str] = field(default_factory=Counter)
    _seen: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def _placeholder(self, kind: str, value: str) -> str:
        key = (kind, re.sub(r"[\s().-]", "", value).casefold())
        if key not in self._seen:
            self._seen[key] = f"[{kind} {sum(1 for k in self._seen if k[0] == kind) + 1}]"
        self.counts[kind] += 1
        return self._seen[key]

    def __call__(self, text: str) -> str:
        text = _MAILTO.sub(lambda m: self._placeholder("email", m.group(1)), text)
        text = _MENTION.sub(lambda m: self._placeholder("person", m.group(1)), text)
        text = _CHANNEL.sub(lambda m: f"#{m.group(2)}" if m.group(2) else "#channel", text)
        text = _SLACK_LINK.sub(lambda m: self._placeholder("link", m.group(1)), text)
        text = _EMAIL.sub(lambda m: self._placeholder("email", m.group(0)), text)
        text = _URL.sub(lambda m: self._placeholder("link", m.group(0)), text)
        text = _IBAN.sub(lambda m: self._placeholder("iban", m.group(0)) if iban_ok(m.group(0)) else m.group(0), text)
        text = _CARD.sub(self._card, text)
        return self._phones(text)

    def _card(self, m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group(0))
        return self._placeholder("card", digits) if 13 <= len(digits) <= 19 and luhn_ok(digits) else m.group(0)

    def _phones(self, text: str) -> str:
        spans: dict[tuple[int, int], str] = {}
        for region in _REGIONS:
            for match in phonenumbers.PhoneNumberMatcher(text, region, leniency=phonenumbers.Leniency.POSSIBLE):
                if self._is_phone(text, match):
                    spans[(match.start, match.end)] = match.raw_string
        if not spans:
            return text
        # longest first where two readings overlap
        kept: list[tuple[int, int]] = []
        for start, end in sorted(spans, key=lambda s: (s[0], -(s[1] - s[0]))):
            if kept and start < kept[-1][1]:
                continue
            kept.append((start, end))
        out, last = [], 0
        for start, end in kept:
            out += [text[last:start], self._placeholder("phone", spans[(start, end)])]
            last = end
        return "".join(out) + text[last:]

    @staticmethod
    def _is_phone(text: str, match: phonenumbers.PhoneNumberMatch) -> bool:
        raw = match.raw_string.strip()
        if sum(ch.isdigit() for ch in raw) < 7 or _DATE.match(raw):
            return False
        before = text[max(0, match.start - 30) : match.start]
        if _ID_CUE.search(before) or before.rstrip().endswith(("$", "£", "€", "v", "V")):
            return False
        if raw.startswith(("+", "00")):
            return True
        return bool(_PHONE_CUE.search(before)) or (
            phonenumbers.is_valid_number(match.number) and not re.fullmatch(r"\d+", raw)
        )


def redact(text: str) -> tuple[str, int]:
    """One text on its own: (redacted text, items replaced)."""
    r = Redactor()
    return r(text), r.total
