"""Kind and sentiment of a customer signal by transparent, scored cues and a small linear model, with what
decided (`why`); offline.

Kinds, when two fit the more actionable wins: churn-risk > problem > request > question > praise > other.
The text is read the way a customer-success lead reads it:
- Slack markup, emoji codes and common typos are normalised first;
- cues are scored per kind, in clause scope: "not impressed" is a problem, "nobody has complained since"
  and "no more chasing" are praise, "Fantastic, the sync broke again" is sarcasm about a problem;
- an improvement reported as good news ("now four minutes instead of an hour", "used to crash, rock solid
  now") is praise even though it names the old pain;
- churn risk as customer-success teams see it (eval/README.md): a champion leaving, a competitor's trial,
  usage or seats falling, silence before a renewal, a rollout on hold, cost scrutiny, contract-end, downgrade
  and export questions, executives involved, threats, vendor reviews and consolidation;
- asks reported second-hand or hedged ("Dana mentioned they'd love…", "it might be nice if…") are requests,
  and questions without a question mark ("wondering whether…") are questions.
Then a linear model over words, character n-grams, the cues that matched and the words' tone (bot.textmodel)
may overrule the cues when it is sure enough (never a churn risk they found, never to "other"), and decides
when they found nothing (praise or a problem it is unsure of gives way to the other when its praise-vs-problem
and the tone lean that way); a clear tone decides what neither recognised; and, given a workspace, the kinds its
people corrected in similar messages come first (bot.memory).
Sentiment in [-1, 1] comes from VADER (negation, boosters, "but", emoji), steered by the kind and by sarcasm.
Measured on our labelled corpus's frozen part and on labelled text written by others, each source left out
of the model in turn: eval/ and EVAL.md.
"""

from __future__ import annotations

import re
import re._constants as _sre  # the parsed form of a pattern, for its needles (below)
import re._parser as _sre_parse
import string
from collections import Counter
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from bot import memory, textmodel
from bot.kinds import KINDS  # noqa: F401 - re-exported: callers validate kinds against it

# --- normalising -------------------------------------------------------------------------------------

_SLACK_USER = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
_SLACK_CHANNEL = re.compile(r"<#[CG][A-Z0-9]+(?:\|([^>]*))?>")
_SLACK_LINK = re.compile(r"<(?:https?://|mailto:)[^|>]*\|([^>]*)>")
_SLACK_BARE_LINK = re.compile(r"<(?:https?://|mailto:)[^>]*>")
_EMOJI_CODE = re.compile(r":([a-z0-9_+\-']+):")
EMOJI_WORDS = {
    # Slack short codes and their Unicode forms, as the words a reader hears in them
    "tada": "celebrate",
    "raised_hands": "great",
    "clap": "great",
    "fire": "great",
    "heart": "love",
    "heart_eyes": "love",
    "+1": "good",
    "thumbsup": "good",
    "star-struck": "amazing",
    "100": "great",
    "sparkles": "great",
    "muscle": "great",
    "smile": "happy",
    "grinning": "happy",
    "pray": "thanks",
    "face_palm": "ugh",
    "facepalm": "ugh",
    "man-facepalming": "ugh",
    "woman-facepalming": "ugh",
    "rage": "angry",
    "angry": "angry",
    "disappointed": "disappointed",
    "cry": "sad",
    "sob": "sad",
    "weary": "ugh",
    "tired_face": "ugh",
    "-1": "bad",
    "thumbsdown": "bad",
    "scream": "awful",
    "rolling_eyes": "sarcasm",
    "upside_down_face": "sarcasm",
    "unamused": "sarcasm",
    "grimacing": "awkward",
    "confused": "confused",
    "sweat_smile": "awkward",
    "eyes": "",
}
UNICODE_EMOJI = {
    "🙄": "sarcasm",
    "🙃": "sarcasm",
    "🤦": "ugh",
    "😤": "angry",
    "😡": "angry",
    "😞": "disappointed",
    "😩": "ugh",
    "👎": "bad",
    "😬": "awkward",
    "🙌": "great",
    "🎉": "celebrate",
    "👏": "great",
    "🔥": "great",
    "❤️": "love",
    "😍": "love",
    "👍": "good",
    "😊": "happy",
    "🙏": "thanks",
    "😂": "",
    "👀": "",
}
TYPOS = {
    "thnks": "thanks",
    "thx": "thanks",
    "thanx": "thanks",
    "ty": "thank you",
    "recal": "recall",
    "wud": "would",
    "cud": "could",
    "hw": "how",
    "pls": "please",
    "plz": "please",
    "u": "you",
    "cant": "can't",
    "dont": "don't",
    "doesnt": "doesn't",
    "isnt": "isn't",
    "wont": "won't",
    "didnt": "didn't",
    "havent": "haven't",
    "wasnt": "wasn't",
    "arent": "aren't",
    "couldnt": "couldn't",
    "shouldnt": "shouldn't",
    "teh": "the",
    "sooo": "so",
    "realy": "really",
    "recieve": "receive",
    "recieved": "received",
    "definately": "definitely",
    "alot": "a lot",
    "becuase": "because",
    "dosent": "doesn't",
    "wierd": "weird",
    "brokn": "broken",
    "dashbaord": "dashboard",
}
_WORD = re.compile(r"[a-z']+|[^a-z'\s]+")


# a label before what was said, the way people file a customer's words in a shared channel ("Riverside: Is there
# a way to block lunch breaks?", "Harbor Legal: the export is missing matter numbers"): up to four capitalised
# words and a colon, then a new sentence. It names the customer (routing reads it), not the kind: a question
# must still open with its question word.
_LABEL = re.compile(r"^\s*[A-Z][\w&'.-]*(?: [A-Z][\w&'.-]*){0,3}:\s+(?=[A-Z0-9\"'])")


def normalise(text: str) -> str:
    """Slack markup to words, emoji to the feeling they carry, typos fixed, lower case, one space; a leading
    label ("Riverside: …") left out."""
    t = text
    if ":" in t:
        t = _LABEL.sub("", t, count=1)
    if "<" in t:  # each step runs only when what it replaces can be there
        t = _SLACK_USER.sub("someone", t)
        t = _SLACK_CHANNEL.sub(lambda m: "#" + (m.group(1) or "channel"), t)
        t = _SLACK_LINK.sub(lambda m: m.group(1), t)
        t = _SLACK_BARE_LINK.sub("link", t)
    if ":" in t:
        t = _EMOJI_CODE.sub(lambda m: " " + EMOJI_WORDS.get(m.group(1), "") + " ", t)
    if not t.isascii():
        for emoji, word in UNICODE_EMOJI.items():
            if emoji in t:
                t = t.replace(emoji, f" {word} ")
        t = t.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"').replace("—", " - ")
    t = t.casefold()
    t = " ".join(TYPOS.get(w, w) for w in t.split())
    return t


# --- cues ----------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # hashed by identity: a message's cues are a set (_Needles.present)
class Cue:
    name: str
    kind: str
    weight: float
    pattern: re.Pattern[str]
    needles: frozenset[str] | None = None  # one of them is in every text the pattern matches (None: unknown)

    def search(self, text: str) -> bool:
        """Whether the cue matches `text`: its expression runs only when one of its needles is there, which
        spares most of a message's time (most cues match no message)."""
        if self.needles is not None and not any(n in text for n in self.needles):
            return False
        return self.pattern.search(text) is not None

    def matches(self, text: str, present: AbstractSet[Cue]) -> bool:
        """`search`, given the cues whose needles are in `text` (`_NEEDLES.present(text)`)."""
        return self in present and self.pattern.search(text) is not None


class _Needles:
    """Which cues' needles are in a text, found in one pass over the text instead of looking for every needle
    of every cue in turn (that took most of a message's time). Each needle is filed under one of its
    three-character pieces, the one fewest other needles share (one without a space if it has one), and is
    looked for only when the text has that piece; a needle shorter than that is filed under itself."""

    def __init__(self, cues: list[Cue]) -> None:
        self.always = {c for c in cues if c.needles is None}  # their needles are unknown: always tried
        self.by_piece: dict[tuple[str, ...], list[tuple[str, Cue]]] = {}
        self.short: dict[str, set[Cue]] = {}  # the cues of each needle shorter than a piece
        needles = [(n, c) for c in cues for n in c.needles or ()]
        shared = Counter(p for n, _ in needles for p in set(_pieces(n)))
        for needle, cue in needles:
            if len(needle) < 3:
                self.short.setdefault(needle, set()).add(cue)
            else:
                piece = min(_pieces(needle), key=lambda p: (" " in p, shared[p], p))
                self.by_piece.setdefault(piece, []).append((needle, cue))
        self.pieces = frozenset(self.by_piece)

    def present(self, text: str) -> set[Cue]:
        """The cues one of whose needles is in `text`, and those whose needles are unknown."""
        found = set(self.always)
        for piece in self.pieces.intersection(_pieces(text)):
            for needle, cue in self.by_piece[piece]:
                if cue not in found and needle in text:
                    found.add(cue)
        for needle, cues in self.short.items():
            if needle in text:
                found |= cues
        return found


def _pieces(text: str) -> Iterator[tuple[str, ...]]:
    """The three-character pieces of `text`, as tuples of characters: zipping is what makes them cheap."""
    return zip(text, text[1:], text[2:], strict=False)


def _better(a: frozenset[str], b: frozenset[str]) -> bool:
    """Needles `a` sort out more texts than `b`: longer at their shortest, then fewer."""
    return (min(map(len, a)), -len(a)) > (min(map(len, b)), -len(b))


def _needles(items: _Parsed) -> frozenset[str] | None:
    """Strings one of which every match of the parsed pattern `items` contains, or None when none can be said."""
    return _read(items)[0]


SPELLED_AT_MOST = 32  # strings a run of a pattern may spell out to give needles
_Parsed = Iterable[tuple[Any, Any]]  # a parsed pattern: (opcode, argument) pairs (re._parser.SubPattern)
_Read = tuple[frozenset[str] | None, frozenset[str] | None]  # needles, every string it matches (when few)


def _read(items: _Parsed) -> _Read:
    """The needles of the parsed pattern `items`: the strings a run of its parts spells out when each part
    matches one of a few strings (" (from|to|by) " gives " from ", " to ", " by "), or those of a part (the
    union of an alternation's needles when every branch has some), whichever sort out more texts. And every
    string it can match, when there are at most SPELLED_AT_MOST (None otherwise)."""
    best: frozenset[str] | None = None

    def consider(found: frozenset[str] | None) -> None:
        nonlocal best
        if found and "" not in found and (best is None or _better(found, best)):
            best = found

    parts: list[frozenset[str] | None] = []
    for op, av in items:
        needles, spelled = _read_part(op, av)
        consider(needles)
        if spelled is not None and len(spelled) == 1 and parts and (last := parts[-1]) is not None and len(last) == 1:
            parts[-1] = frozenset({min(last) + min(spelled)})  # one string, as a run of literal characters
        else:
            parts.append(spelled)
    start = 0
    while start < len(parts):  # the longest runs of parts that spell out few enough strings
        run, end = frozenset({""}), start
        while end < len(parts) and (part := parts[end]) is not None and (longer := _concat(run, part)):
            run, end = longer, end + 1
        consider(run)
        start = end + 1 if end == len(parts) or parts[end] is None else start + 1
    everything: frozenset[str] | None = frozenset({""})
    for part in parts:
        everything = _concat(everything, part) if everything is not None and part is not None else None
    return best, everything


def _read_part(op: Any, av: Any) -> _Read:
    """`_read` of one part of a parsed pattern. What can be spelled: a literal, a class of them, a group, an
    alternation, an optional part or a short repeat of what can be spelled; an anchor or a look-around matches
    the empty string. A class, an anchor, a look-around or an optional part is no needle (but keeps the rest)."""
    if op is _sre.LITERAL:
        return None, frozenset({chr(av)})
    if op is _sre.IN and all(o is _sre.LITERAL for o, _ in av):
        return None, frozenset(chr(c) for _, c in av)
    if op is _sre.SUBPATTERN:
        needles, spelled = _read(av[-1])
        return needles, (None if av[1] or av[2] else spelled)  # av[1], av[2]: flags changed inside, e.g. (?i:…)
    if op is _sre.BRANCH:
        branches = [_read(b) for b in av[1]]
        return _union([n for n, _ in branches]), _union([s for _, s in branches])
    if op in (_sre.MAX_REPEAT, _sre.MIN_REPEAT):
        low, high = av[0], av[1]
        needles, once = _read(av[2])
        times: list[frozenset[str] | None] = [frozenset({""})]
        for _ in range(high if high <= 3 else 0):
            times.append(_concat(times[-1], once) if times[-1] is not None and once is not None else None)
        return (needles if low >= 1 else None), (_union(times[low:]) if high <= 3 else None)
    if op in (_sre.AT, _sre.ASSERT, _sre.ASSERT_NOT):
        return None, frozenset({""})
    return None, None


def _union(sets: list[frozenset[str] | None]) -> frozenset[str] | None:
    """The strings of all `sets`, or None when one is None (unknown)."""
    known = [s for s in sets if s is not None]
    return frozenset().union(*known) if len(known) == len(sets) else None


def _concat(a: frozenset[str], b: frozenset[str]) -> frozenset[str] | None:
    """Each string of `a` followed by each of `b`, or None when that is more than SPELLED_AT_MOST."""
    if len(a) * len(b) > SPELLED_AT_MOST:
        return None
    return frozenset(x + y for x in a for y in b)


def _cue(name: str, kind: str, weight: float, pattern: str) -> Cue:
    try:
        needles = _needles(_sre_parse.parse(pattern))
    except Exception:  # the parser is the standard library's own, not a public interface: without it, no needles
        needles = None
    return Cue(name, kind, weight, re.compile(pattern), needles)


def _cues(kind: str, weight: float, **named: str) -> list[Cue]:
    return [_cue(name.replace("_", " "), kind, weight, p) for name, p in named.items()]


# a current problem told as sarcasm: a cheerful opening, then what broke (a Cue for its needles, not scored)
_SARCASM = _cue(
    "sarcasm",
    "problem",
    0,
    r"^(oh )?(great|fantastic|brilliant|perfect|lovely|wonderful|amazing|awesome|excellent|marvellous|"
    r"super|cool|nice one|just lovely|oh good|fab|terrific)\b\s*[.,!:;-]|perfect timing|"
    r"^love (it|that|how) |^so glad\b.*\bnot\b|(^| )/s\b|\bsarcasm\b|^sure,? because|^of course\b|"
    r"\bwhat (a|an) (surprise|treat)|\b(yet )?another (monday|morning|day|week|night)\b.*\b(down|outage|broke|"
    r"missing|failed|fail)|^ha\. ",
)

CHURN = _cues(
    "churn-risk",
    3,
    leaving=r"\b(cancel(l?ing|l?ed)? (the|our|their) (contract|subscription|account)|leave (you|us)\b|"
    r"(move|moving|switch(ing)?|migrat(e|ing)) (away|off|all|everything|to (another|a new|a different|"
    r"the parent|a single))|pull(ing)? the plug|end (the|their|our) contract|terminate)",
    not_renewing=r"\b(not|won't|don't|might not|may not|unlikely to) (be )?renew|non-?renewal|stopped renewing|"
    r"not renewing|renewal (is |has been )?(on hold|paused|pushed|at risk)|pushed to \"?after",
    vendor_review=r"\b(vendor|supplier|tool(ing)?|platform|software|system|finance systems?) "
    r"(consolidation|review|bake-?off|spend)|re-?evaluat|reviewing (all |every )?(software|tool|"
    r"supplier|vendor)|"
    r"(running|issued?|send(ing)?|sent|respond to|going to|run) (an? )?(rfp|rfi|tender)\b|"
    r"(rfp|rfi) for|re-?tender(ing|s)?\b|going to tender|bake-?off|(uses|wants|on) (another|a "
    r"different) (system|platform|provider|tool)|"
    r"(evaluating|trialling|piloting|considering|weighing|looking at|talking to|meeting) "
    r"(alternatives|other|options|another|competitor|[a-z]+'s|[a-z]+ (next|this) week|"
    r"(routewise|clio|procore|xero|netsuite|salesforce|shopify|opentable|bullhorn|guidewire|"
    r"yardi|lightspeed|gitlab|sap)\b)",
    competitor=r"\b(competitor|alternatives?|other vendors?|other providers?|other tools?|other options|"
    r"look(ing)? elsewhere|weighing options|assess(ing)? the market|best of breed|"
    r"aggressive offer|(demo(ed)?|in for a demo)\b.*\b(other|competitor|another)|"
    r"competitor.*demo|three quotes|price comparison|cheaper)",
    contract_exit=r"\b(notice period|cancellation terms|auto-?renew(s|al)?\b.*\b(stop|how)|end the contract|"
    r"leave mid-?contract|end (the )?contract early|export all (their|our) (product )?data|"
    r"in case we move|what happens to (their|our) data if|copy of the contract)",
    shrinking=r"\b(only|just) (\d+|two|three|four|a few|one) (of (their|the) )?(\d+ )?(teachers?|depots?|"
    r"sites?|recruiters?|users?|people|staff|schools?|plants?|stores?)\b.*\b(logged in|use|"
    r"using|active)|usage (is )?(down|low|dropped)|because usage is low|(dropping|cut|cutting|"
    r"shrinking|reduc(e|ing)) (the )?(licen[cs]e|seat|contract)|(licen[cs]es?|seats?) (went|dropped|"
    r"down) from|from \d+ (store )?licen|(went|gone|going) back to (paper|spreadsheets?|the bureau|a "
    r"spreadsheet)|(is|are|'s|'re) back to (using )?(the |a |their )?(paper|spreadsheets?|excel|whiteboards?|"
    r"the old (system|tool|way))|using a spreadsheet .* again|haven't logged in|"
    r"stopped (using|logging|opening|reading|checking)|only the \w+ "
    r"team uses|rest (of the regions )?stopped|rest moved to|moved to the (internal|parent)",
    budget=r"\b(budget (for next year )?doesn't include|cut software costs|biggest line|price increase is a "
    r"dealbreaker|dealbreaker|frozen the expansion|paused the expansion|cost per carer|"
    r"cut three tools|one of the candidates)",
    ultimatum=r"\b(if|unless) .*(they'll|they will|we'll|we will|they'd|they are going|they're going) "
    r"(have to )?(look|switch|move|pause|leave|cancel|go back|revisit|decide|stop)|"
    r"(or|else) (they'll|we'll) (look|leave|switch)|we'll give it until|then we'll decide|"
    r"might not roll out|pause the rollout|revisit the contract|patience (is |'s )?(wearing |running )?(thin|out)",
    consolidating=r"\b(consolidat|standardis|standardiz|single (mis|platform|system|supplier)|one system|"
    r"group('s)? (mes|platform|system)|parent('s| company's)? (platform|system|hr)|"
    r"(merging|merger|acquired|being sold|is sold|buyer has its own|own system)|"
    r"replacement for us|not in their plan|our future there|make us redundant|in-house|"
    r"under review|\"?not sure this is the right fit|right fit)",
    champion_left=r"\b(sales ?(team|people|reps?)|account exec\w*) (has|have) been in\b|been pitched|"
    r"\bchampion\b.*\bleft\b|new (director|cio|coo|ceo|md) (doesn't know|wants|prefers)",
)
# the churn signals customer-success teams watch for (eval/README.md, "churn-risk"), said in general words
_ROLE = (
    r"(champion|sponsor|exec(utive)? sponsor|admin(istrator)?|main contact|key contact|point of contact|"
    r"cfo|ceo|coo|cto|cio|md|vp( of \w+)?|director|head of \w+|it lead|practice manager|office manager|buyer|"
    r"decision[- ]maker|owner)"
)
_EXEC = (
    r"(ceo|cfo|coo|cto|cio|md|managing director|board|leadership|exec(utive)?s?( team)?|vp|president|founder|"
    r"senior management)"
)
CHURN += _cues(
    "churn-risk",
    3,
    champion_leaving=r"\b" + _ROLE + r",? (\w+ )?(is |has |have |just )?(leaving|left(?! (a|an|some|it|this|that|"
    r"his|her|their|early|him|them|you|me|us|the (office|room|meeting|call|building|door|site))\b)|moved on|moving on|"
    r"stepping down|stepped down|retir(ing|ed)|quit|resigned|handed in (their|her|his) notice|been replaced|"
    r"changed (jobs?|roles?|companies)|changing (jobs?|roles?)|(has |have )?gone)\b|"
    r"\b(new|incoming|interim) (\w+ )?" + _ROLE + r"\b,? (\w+ )?(starts|started|starting|joins|joined|joining|"
    r"arrives|arrived|takes over|took over|taking over|is taking over|coming in|comes in|is reviewing|reviewing|"
    r"wants to review|is questioning|questions|doesn't know us|has (his|her|their) own)\b|"
    r"\b" + _ROLE + r" (has )?changed\b|\blost (our|their) (champion|sponsor)|"
    r"\b(whoever|someone new|nobody) (is )?(owns?|own|owning|taking over) (the|our|their) (account|relationship|tool)|"
    r"\b(" + _ROLE[1:-1] + r"|championed|who (set (it|this|everything) up|brought us in|chose us|signed))\b"
    r"[^.;!?]{0,60}"
    r"\b(is leaving|'s leaving|has left|handed in (her|his|their) notice|resigned|is quitting|moving on|moved on|"
    r"retiring|retired|stepping down|stepped down|on (her|his|their) way out|last day is)\b",
    competitor_trial=r"\b(trial(l)?ing|piloting|demo(ing|'ing)?|testing|evaluating|assessing|comparing( you| us)?"
    r"( with| to| against)?|got a quote from|getting quotes|shortlist(ed|ing)?|(a |an )?(trial|pilot|demo) (of|with)) "
    r"(a |an )?(another|other|a different|different|alternative|rival|competing|competitor|new) ([\w-]+ )?(vendor|"
    r"provider|supplier|tool|platform|system|product|solution|app|software)s?\b|"
    r"\b(switch(ing)?|mov(e|ing)|migrat(e|ing)|go(ing)?) (over )?to "
    r"(a |an )?(competitor|rival|another (vendor|provider|tool|platform|system))",
    usage_falling=r"\b(logins?|log-?ins|usage|adoption|engagement|active users|seats? used|use) (has |have |is |are )?"
    r"(dropped|fallen|falling|declin(ed|ing)|down (by |from |to )?\d+|dwindl(ed|ing)|tailed off|dried up|way down|"
    r"halved)\b|"
    r"\b(logins?|log-?ins|usage|adoption|active users)\b[^.;!?]{0,40}?\b(has|have|is|are) (dropped|fallen|"
    r"halved|declined|dwindled|tailed off|dried up|way down|down (by )?\d+)\b|"
    r"\b(cut|cutting|reduc\w*|drop(ping)?|trim(ming)?|go(ing)? down)\b[^.;!?]{0,10}?\bfrom \d+ (seats|licen[cs]es|"
    r"users|sites|logins) to \d+|"
    r"\bfewer (and fewer )?(people|users|staff|teachers|drivers|agents|reps|clinicians) (are )?(using|logging|"
    r"opening)|\b(reduce|reducing|cut|cutting|drop|dropping|trim|trimming) (the number of |our |their )?"
    r"(seats|licen[cs]es|users|user count)\b|\b(nobody|no one|hardly anyone|barely anyone) (is )?(using|logs? "
    r"in|logging in|opens?)\b",
    gone_quiet=r"\b(gone (quiet|silent|dark)|radio silence|ghost(ing|ed)|(cancelled|skipped|missed|declined|"
    r"no-showed|no-?show(ed)? (to|for)) (the |our |their |two |three |the last )?(\w+ )?(qbr|check-?ins?|"
    r"review calls?|business reviews?|renewal (call|meeting))|(haven't|hasn't|have not|has not) (heard (back )?"
    r"from|replied to|responded to|answered) (them|him|her|the customer|our (renewal|emails?|calls?))|"
    r"not (answering|returning|replying to) (our|my) (calls|emails|messages))",
    rollout_paused=r"\b(rollout|roll-?out|implementation|onboarding|go-?live|deployment|expansion|migration|launch)\b"
    r"[^.;!?]{0,40}?\b(is|has been|was|got|are|have been) (now )?(paused|on hold|put on hold|shelved|frozen|"
    r"postponed|delayed indefinitely|cancell?ed|scaled back|narrowed|stopped|halted|on ice)\b|"
    r"\b(rollout|roll-?out|implementation|onboarding|go-?live|deployment|expansion|migration|"
    r"second phase|phase (two|2)|launch|project) (is |has been |was |got |being |have been |are )?(now )?(paused|"
    r"on hold|put on hold|shelved|frozen|postponed|delayed indefinitely|cancell?ed|scaled back|narrowed|"
    r"stopped|halted|on ice)\b|\bput (the |our |their )?(\w+ )?(rollout|roll-?out|implementation|onboarding|"
    r"expansion|project|go-?live|deployment) on (hold|ice)|\b(pause|pausing|paused|halt|halting|stop|stopping|"
    r"scale back|scaling back|narrow|narrowing|shelve|shelving|freeze|freezing) (the |our |their )?(\w+ )?"
    r"(rollout|roll-?out|implementation|expansion|go-?live|deployment)\b|\bonly (roll(ing)?|keep(ing)?) "
    r"(it )?(out )?(to|for|at) (one|two|a (single|couple)|the (pilot|one))",
    cost_scrutiny=r"\b(justify|justifying|defend|defending) (the |our |their |this )?(cost|spend|price|"
    r"licen[cs]es?|renewal|invoice|subscription|investment|fee)|\b(price|pricing|cost|spend|invoice|renewal|"
    r"subscription) (is |are |was |has been |came |getting )?(under (review|scrutiny)|too (high|expensive|much)|"
    r"hard to justify|being questioned|questioned)|\btoo expensive\b|\b(budget (cuts?|freeze|is frozen|"
    r"has been cut|review)|cost[- ]cutting|cutting costs|spend review)\b|\bprocurement (is |are )?(asking|"
    r"questioning|reviewing|pushing back)|\b(roi|return on investment)\b|\b(not (seeing|getting)|don't see) "
    r"(the |enough )?value\b|\bworth (the|what (we|they)) (money|pay|cost|price)",
    contract_end=r"\b(downgrad(e|ing)|drop(ping)? (down )?to the (basic|starter|free|lower|cheaper|smaller) "
    r"(plan|tier|package)|(when|how) (does|do|will) (our|the|their) (contract|term|subscription|agreement) "
    r"(end|expire|run out|finish)|contract (end|expiry|end date|expiration)|end of (our|the|their) (contract|"
    r"term|agreement)|notice (period|to (cancel|terminate|end))|give (you )?notice|cancell?ation (policy|fee|"
    r"process|date)|(close|delete|terminate|shut down|deactivate) (my|our|the|their) (whole |entire )?"
    r"(account|subscription|contract)|get rid of (my|our|the|their) account|"
    r"export (everything|(all|every record|the whole|our whole|all of) (of )?(our |their |the )?(data|records|"
    r"history|files))|full (data )?export|get (all )?(our|their) data out)",
    exec_escalation=r"\b(escalat(e|ed|ing)|tak(e|ing) (this|it)|bring(ing)? (this|it)|rais(e|ed|ing) (this|it)|"
    r"cc'?d|copied in|looped in|loop in) (up )?(to |with |in )?(our |their |the |my )?" + _EXEC + r"\b|"
    r"\b" + _EXEC + r" (is |are |has |have |got )?(now )?(cc'?d|copied|looped) (in|on)\b|"
    r"\b" + _EXEC + r" (is |are |has |have |got |now )?(involved|demanding|furious|unhappy|not happy|asking why|"
    r"asking whether (we|they) (should|need)|wants? (a call|an explanation|answers))",
    threat=r"\b(we'?ll|we will|they'?ll|they will|going to|gonna|might|may|could|will) (have to |need to )?"
    r"(leave|cancel|switch (providers|vendors|suppliers|systems|platforms|tools|away)|go elsewhere|look elsewhere|"
    r"take (our|their) business elsewhere|walk away)\b(?! (the|a|an|it|them|this|that|those|these|some|any|out|"
    r"in|on|off|alone|feedback|a note|a comment|our order|the order|early)\b)|"
    r"\blast chance\b|\bfinal warning\b|\b(considering|thinking (about|of)|talking about|"
    r"discussing) (leaving|cancell?ing|switching|moving (away|off))",
)

PROBLEM = _cues(
    "problem",
    2,
    broken=r"\b(broke|broken|breaks|bug|bugs|crash(es|ed|ing)?|error(s|ed)?|fail(s|ed|ing|ure)?|failing|"
    r"down\b(?! (from|to|\d))|outage|offline|freez(es|ing)|froze|frozen(?! the)|hang(s|ing)?|stuck|"
    r"not working|logged (everyone |them |us |me |people )?out|logs? (everyone|people|users|us|them|me) out|"
    r"(not|aren't|isn't) (showing|appearing|reaching|arriving|loading)|(don't|doesn't) show|"
    r"haven't come through|hasn't come through|land(s|ing)? in spam|unreadable|blurry|(is|are|comes out) "
    r"empty|a different (total|figure|number|amount)|even (when|though)|already (paid|cancelled|left)|"
    r"(says|shows|showing) [a-z ]{1,30} when\b|"
    r"doesn't work|don't work|isn't working|stopped (working|importing|firing|loading)|stopped$|"
    r"won't load|didn't (load|sync|save|update|show|import|run|fire|apply|reach|arrive|come)|"
    r"never (synced|arrive[ds]?|fired|came|loaded)|dropped (offline|work|orders|out)|disconnect(s|ed|ing)?|"
    r"times? ?out|timing out|timed out|loops? forever|greyed out|404s?|blank for|wiped|reset itself|"
    r"lost|gone|disappear(s|ed|ing)?|missing|skips?|skipped|rejected|declined|expired without|404)\b",
    wrong=r"\b(wrong|incorrect|off by|looks? off|looks? wrong|don't match|doesn't match|doesn't agree|"
    r"don't agree|mismatch|out of date|last (month|year|week)'s (price|premium|holiday|balance)|"
    r"old (depot|address|prices?)|inaccurate|over 100%|behind on|stale|shows? (items|jobs|machines|the "
    r"wrong|as)|to the wrong|for the wrong|the wrong)",
    repeat=r"\b(again|twice(?! as)|double[- ]?(book|charg|bill|text|remind|sen[dt]|post|entr|seat)|duplicat|"
    r"three times|two (emails|reminders)|every (homework|time)|keeps? (freezing|crashing|failing|"
    r"disconnecting|logging|getting)|yet another|3rd time|third time)",
    blocked=r"\b(can't|cannot|unable to|couldn't|won't let|not able to|nobody knew|no way to)\b",
    still=r"\bstill (no|not|can't|have to|has to|get|getting|go|goes|show|shows|showing|phone|spend|"
    r"spends|seeing|waiting|broken|isn't|doesn't|broke|failing|time|being|hasn't|missing|loses|"
    r"listed|printing)|still (isn't|not) (resolved|fixed|sorted)|isn't fixed|not fixed|was promised|"
    r"we were promised",
    manual=r"\b(manually|by hand|hand-?writing|workaround|had to fix|fix(ing)? (it|payslips|them) manually|"
    r"phone the waiting list|copy and paste|on paper|pen and paper|paper (forms?|sheets?|copies))",
    unhappy=r"\b(frustrat|annoy|angry|unhappy|not happy|isn't happy|upset|hate|useless|painful|"
    r"terrible|awful|chaos|nightmare|unacceptable|disappointed|confus(ed|ing)|losing patience|"
    r"sigh|ugh|ouch|not impressed|wouldn't say it's working|sort it out|painfully|worries me|"
    r"upsetting|complain(s|ed|ing|t)\b|moan)",
    slow=r"\b(slow|too slow|takes? (three|3|ages|forever)|lag(s|ging)?|behind\b|late\b|delay(ed)?|"
    r"takes? (about |around |nearly |over |almost |up to )?(\d+|five|ten|fifteen|twenty|thirty|forty) "
    r"(minutes?|mins?|hours?) to (load|open|sync|print|save|refresh|generate|export|come up)|"
    r"took (\d+|two|three|four|five|a few|several) (days|weeks) to (reply|respond|answer|get back|fix|sort|resolve)|"
    r"takes? (\d+|four|five|six|seven|eight|nine|ten|a dozen) (clicks|steps|screens))",
    exposed=r"\b(sent (a document|.*) to the wrong|in german for some reason|wrong client|for some reason)",
    # something that should have happened did not: a reminder never went out, statements weren't sent
    not_done=r"\b(wasn't|weren't|was not|were not|isn't|aren't|is not|are not|hasn't|haven't|has not|have not|"
    r"never|didn't|did not) (been |yet been )?(sent|offered|received|receive|delivered|generated|"
    r"processed|paid|posted|printed|uploaded|updated|synced|syncing|imported|saved|triggered|applied|issued|"
    r"emailed|texted|notified|scheduled|charged|refunded|booked|created|go(ne)? out|went out|show(ed)? up|"
    r"turn(ed)? up|c[ao]me through|went through|arrived?|reach(ed)?)\b|"
    r"\b(nobody|no one)\b[^.;!?]{0,40}\b(got|received|was (told|notified|sent)|were (told|notified|sent)|heard)\b|"
    r"\bnothing (has |have )?(synced|arrived|come through|came through|loaded|updated|printed|imported|uploaded)\b",
)

REQUEST = _cues(
    "request",
    2,
    would_love=r"\b(would|'d) (really )?(love|like|want|appreciate|welcome|prefer)|\bwould be (great|nice|good|handy|"
    r"helpful|ideal|useful)|it'?d be (great|nice|ideal|handy)|it might be nice|would help if|"
    r"would (really )?help\b|would save (them|us|a lot)|so helpful|be great if|be handy if|"
    r"be ideal if",
    asking_for=r"\b(ask(ed|ing)? (for|about a way|again about)|request(ed|ing|s)? (a|an|for)|feature request|"
    r"(asked|wondered|wondering|asking|ask) (if|whether) (we|you|they|it) (could|can|might|would)|"
    r"keep asking for|asking for)|\bkeen on\b|hoping (to get|for)|wish(es)? (we|it|there)|"
    r"suggest(ed|s|ion)?\b",
    want_a_way=r"(?<!barely )(?<!don't )(?<!doesn't )(?<!no longer )(?<!never )(?<!you )"
    r"\b(want|wants|need|needs|'d like|would like) (?!to (know|talk|chat|check|confirm|discuss)\b)"
    r"[a-z0-9-]+",
    could_you=r"^(could|can) (you|we|u) (add|make|get|have|build|support|whitelist|include|show|split|let)|"
    r"^could (the|it|volunteers|families|teachers|tenants|store|we|you)\b|"
    r"any chance (of|we)|would it be possible|is there any chance|please add|can we get|"
    r"could we (get|have|add|support)|on the (roadmap|cards)|if (it's|it is) ever|if that's on|"
    r"if it's not too much trouble|would be nice to have|nice to have|any plans? (to|for)|"
    r"on the roadmap\?",
    missing_feature=r"\b(no way to|there's no option|doesn't let (us|them)|lack of|without a way)",
)

QUESTION = _cues(
    "question",
    2,
    question_mark=r"\?\s*$",
    opener=r"^(how|what|what's|when|where|which|why|is|are|does|do|can|hw)\b|^(did|will|should|has|have|who|could|"
    r"would)\b.*\?\s*$",
    wondering=r"\b(wondering (whether|if|how)|not sure (if|whether)|curious (if|whether|how)|any idea (if|"
    r"whether|how)|need to know|want(s)? to know|like to know|trying to figure out|quick one|"
    r"can you check|do you know (if|whether|how)|anyone know|not clear (to us )?whether|asking how|"
    r"asking what|asking whether|asking if|asked (if|whether) (there's|there is|there are|it's possible|"
    r"we (offer|have|support|do)))",
    is_there=r"\b(is there (a|any) (way|limit|api|sandbox|discount)|any way to|is it possible to|is it normal|"
    r"how do (we|i|you|engineers)|how does|how long|how are|how is|what's the (best|process|max|"
    r"retention)|what happens|do you (support|integrate|have)|"
    r"(?<!still )(?<!also )(?<!always )(?<!never )(?<!who )does (it|the|deleting) )",
)

PRAISE = _cues(
    "praise",
    1.5,
    pleased=r"\b(love[sd]?|loving|great|awesome|amazing|fantastic|brilliant|excellent|wonderful|impress(ed|"
    r"ive)|delighted|thrilled|happy(?! (friday|monday|new year|holidays|christmas|birthday|easter))|"
    r"pleased|chuffed|glad|kudos|shout ?out|game ?changer|smooth(ly|est)?|"
    r"spotless|rock solid|best|first thing everyone|really positive|very positive|positive feedback|"
    r"nice|lovely|relief|compliment|wow|finally|look forward|easiest|so easy|way easier|easier|"
    r"massive win|huge difference|celebrate|thanks? (for|so much|to whoever|team)|massive thanks|"
    r"couldn't be happier|life ?saver|works perfectly|perfectly|(really |so |very )?(useful|helpful)|saves? (a "
    r"fortune|them|hours|time)|without a hitch|noticed|"
    r"(quick |big |huge )?thanks from|much (clearer|better|easier|faster|quicker|simpler)|went well|"
    r"adding (\d+|two|three|four|five|a few|more) (more )?(sites|seats|licen[cs]es|users|locations|clinics|"
    r"stores|depots|schools)|saved (them|us|me|the [a-z ]{1,20}?) (about |around |nearly |"
    r"over |a full |an? )?(\d+ |one |two |three |four |five |ten |twenty |half (a |an )?)?(hours?|days?|day|minutes?|"
    r"week|afternoon|morning))",
    improved=r"\b(now\b.*\binstead of|instead of .* now|from \d+(\.\d+)?%? (minutes |days |hours )?to \d|"
    r"(down|dropped|fell|up|cut|went) (from|to|by) \d|\bdown \d+%|\bup \d+%|halved|(dropped|fell|"
    r"is|are) (to )?(zero|almost none|under \d)|no more\b|no longer\b|used to\b.*\bnow\b|"
    r"(?<!like it )(?<!as it )(?<!like they )(?<!as they )used to (take|crash|be)|"
    r"takes? (only )?(\d+|five|ten|twenty|two|one) (minutes?|hours?|days?) now|"
    r"(in|within|under) (\d+|an|one|two|five|ten|twenty) (minutes?|hours?|days?|mins?) (now|instead)|"
    r"(same day|same shift|one call|one touch|a day|one afternoon|minutes|an hour) now|"
    r"(is|are) ready in|all-time low|dried up|(basically|finally) stopped|stopped (calling|chasing|"
    r"printing|phoning|asking)|barely (need|get|think)|first time ever|for the first time|"
    r"two days earlier|faster\b|quicker|best it's been|since the (fix|scanner fix)|"
    r"twice as (fast|quick)|instead of (the|a|an|\d+|one|two|three|four|five|six|a few) |"
    r"from (a|an|one|two|three) (week|day|month|hour)s? to|\d+ (minutes?|hours?|days?) earlier|"
    r"raised more|more than last year|doesn't get in (their|the) way|actually use|now a one-day|"
    r"(has|have)n't (touched|needed|had to)|thanks to (the|our|your)|"
    r"fixed it|is fixed|was fixed|got fixed|sorted (it|the)|went from|(\d+|a) (days?|hours?|weeks?) "
    r"(faster|earlier)|rock solid|cut (our|their|the) [a-z-]+ |(is|are|works?|working|all) (fine|good|sorted|"
    r"resolved|fixed) now)",
    no_complaints=r"\b(no complaints|nobody (has )?(complained|asked|had to|has touched|phones|on the)|"
    r"not a single (complaint|late|correction|one|issue)|haven't had a single|hasn't had a single|"
    r"hasn't crashed|zero (complaints|issues|findings|corrections|manual)|no (issues|problems) "
    r"(since|at all)|nobody on the shop floor|no more (chasing|calls|paper|complaints)|"
    r"haven't touched|complaints? (have )?(dropped|dried)|fewer questions|far fewer|"
    r"(didn't|don't|doesn't) (need|have) to (call|chase)|without any phone calls|no phone calls|"
    r"with no phone calls)",
)

# how people in any industry praise or complain about a product in general words (reviews, surveys, tickets)
PRAISE += _cues(
    "praise",
    1.5,
    easy=r"\b(easy|easier|simple|intuitive|user[- ]friendly|straightforward) (to (use|navigate|set up|learn|install|"
    r"understand|find|read|share)|and (quick|fast|simple|reliable|clean|fun))|\bso (easy|simple|quick|fast)\b|"
    r"\b(works|worked|working|runs) (really |so )?(well|great|fine|perfectly|flawlessly|smoothly|like a charm)\b|"
    r"\b(very|really|super|so|extremely) (good|handy|convenient|reliable|fast|quick|useful|helpful|intuitive|"
    r"clean|accurate)\b|\bgood (app|tool|product|service|job|work|support|experience|stuff)\b",
    recommend=r"\b(highly |would |definitely |strongly )?recommend(ed|s)?\b(?! (a|an|the|that you|you|we|they|"
    r"how|what|which|any))|\b(5|five) stars?\b",
    fan=r"\b(big |huge |real )?fans? of\b|^(really|totally|absolutely|honestly) (like|love|enjoy)|\beasy\b[^.;!?]{0,40}"
    r"\bto (use|navigate|set up|learn)\b",
    likes=r"\b(i|we|they|everyone|staff|people|users|the team|kids|my \w+|our \w+|he|she) (really |all |just |do |"
    r"absolutely |truly )?(like|liked|likes|enjoy|enjoyed|enjoys|adore|appreciate)\b(?! (to|it if|if))",
)
PROBLEM += _cues(
    "problem",
    2,
    complaint=r"\b(too many|too much|way too|worst|glitch(y|es)?|laggy|unusable|rubbish|garbage|"
    r"horrible|pointless|clunky|buggy|intrusive|irritating|ridiculous|waste of|unreliable)\b|"
    r"\bkeeps? (popping up|crashing|closing|stopping|dropping)|\bnot (good|great|easy|intuitive|user friendly|"
    r"reliable|working properly)\b",
    # a problem asked as a question ("why is the report empty?"): the labelling rule files it as a problem
    why_broken=r"^(why|how come)\b.*\b(empty|blank|wrong|missing|not|n't|never|declined|failed|charged|stuck|"
    r"pending|blocked|reverted|cancell?ed|late|slow|twice|double|again|disappeared|gone|lost)\b",
    waited=r"\b(on hold|waited|waiting|been waiting|held)\b[^.;!?]{0,40}?\bfor (\d+|an?|over an?|two|three|four|"
    r"five|ten|twenty|thirty|forty|forty-five) (mins?|minutes|hours?|days|weeks)\b",
    not_arrived=r"\b(haven't|hasn't|have not|has not|didn't|did not|still not|still haven't) (yet )?(received|"
    r"arrived|got|gotten|shown up|gone through|been (credited|refunded|delivered|received|paid))\b|"
    r"\b(was|been|got|were|am|are|being) (charged|billed) (twice|double|two times|more than|extra|for "
    r"something)|\b(don't|do not|didn't|did not) recogni[sz]e\b|\bunauthori[sz]ed\b|\b(isn't|is not|wasn't|"
    r"was not|won't|will not|doesn't|does not) (go(ing)? through|accepted)\b",
)

# phrases that sound like a problem but report its absence or its end: read before the problem cues (a Cue for
# its needles; what it is worth is in _kind)
_PROBLEM_ENDED = _cue(
    "a pain reported as over",
    "praise",
    0,
    r"\b(no complaints?( about [^,.!]+)?|nobody has complained|not a single complaint|haven't had a single "
    r"[a-z ]+|hasn't had a single [a-z ]+|no (issues|problems)|no more [a-z]+|no longer [a-z]+|"
    r"without (a hitch|any (phone )?calls)|(?<!like it )(?<!as it )(?<!like they )(?<!as they )"
    r"used to (crash|fail|take|be)[^;.]*[;.]?|was slow|were slow|"
    r"(bug|issue|problem|mess|sync issue|scanner bug|pension issue) (was |got )?(fixed|sorted)|fixed (it|the)|"
    r"sorted the|complaints? (about [a-z ]+ )?(have )?(dropped|dried up|basically stopped)|"
    r"zero (complaints|issues|findings|corrections|manual corrections)|first [a-z ]+ with zero [a-z ]+|"
    r"missed visits dropped to zero|hasn't crashed|one less thing to (moan|worry|chase) about|"
    r"no-?shows? (dropped|down)|(downtime|scrap|void|claim|"
    r"no-show) (rate |periods )?(fell|dropped|down|are down)|(not|never) (missed|late)|"
    r"customer complaints about [a-z ]+ are at an all-time low|dropped to almost none|lost letters basically "
    r"stopped|stopped altogether|not (one|a single) [a-z ]{1,30} (went missing|was lost|got lost|failed|bounced)|"
    r"(complaints|errors|mistakes|tickets|calls|no-?shows?|(failed|missed|late) [a-z]+) (are|is|have|has) (been )?"
    r"(way |well |much |right |a lot |really )?(down|dropped|fallen|lower))",
)
_NEEDLES = _Needles([*CHURN, *PROBLEM, *REQUEST, *QUESTION, *PRAISE, _SARCASM, _PROBLEM_ENDED])
_CLAUSE = re.compile(r"(?<=[.!;?])\s+|\s+(?:but|however|though|although|yet|except)\s+|\s+-\s+")
# someone passing on what a customer said: the words after it are the customer's
_REPORTED = re.compile(
    r"\b(said|says|mentioned|told (me|us|\w+)|asked|wondered|suggested|hinted|wrote|"
    r"their words|according to|per their|from their)\b"
)


@dataclass(frozen=True)
class Classification:
    kind: str
    sentiment: float
    why: tuple[str, ...] = field(default=())


@lru_cache(maxsize=1)
def _vader() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def _score(cues: list[Cue], text: str, present: set[Cue], found: list[str]) -> float:
    """The cues' weights that match `text` (`present`: the cues whose needles are in it)."""
    total = 0.0
    for cue in cues:
        if cue in present and cue.pattern.search(text):  # cue.matches(text, present), without a call per cue
            total += cue.weight
            found.append(f"{cue.kind}: {cue.name}")
    return total


def _still_wrong(text: str, ended: bool, present: set[Cue]) -> tuple[str, set[Cue]]:
    """`text` without the pains it reports as over (`ended`: there are some), and the cues whose needles are in
    what is left (`present`: those of `text`)."""
    if not ended:
        return text, present
    live = _PROBLEM_ENDED.pattern.sub(" ", text)
    return live, _NEEDLES.present(live)


def _kind(t: str, why: list[str], found: dict[str, list[str]] | None = None) -> tuple[str, bool]:
    """The kind of normalised text `t`, and whether it was sarcasm; the deciding cues go into `why`, every
    cue that matched (by kind) into `found`."""
    present = _NEEDLES.present(t)
    sarcasm = _SARCASM.matches(t, present)
    ended = _PROBLEM_ENDED.matches(t, present)
    live = _still_wrong(t, ended, present)  # what is still wrong, once the pains reported as over are taken out
    if found is None:
        found = {}
    found.update({k: [] for k in ("churn-risk", "problem", "request", "question", "praise")})
    churn = _score(CHURN, t, present, found["churn-risk"])
    problem = _score(PROBLEM, *live, found["problem"])
    request = _score(REQUEST, t, present, found["request"])
    question = _score(QUESTION, t, present, found["question"])
    praise = _score(PRAISE, t, present, found["praise"]) + (1.5 if ended else 0)
    if ended:
        found["praise"].append("praise: a pain reported as over")

    def last_clause_praised() -> bool:
        """The last clause carries the weight ("Love the dashboard but exports still time out"): scored only
        when praise and a problem compete, the cues being most of a message's time."""
        clauses = [c for c in _CLAUSE.split(t) if c and c.strip()]
        last = clauses[-1] if clauses else t
        if last == t:  # one clause: the last clause scores as the whole
            return praise > problem
        last_present = _NEEDLES.present(last)
        last_ended = _PROBLEM_ENDED.matches(last, last_present)
        problem_last = _score(PROBLEM, *_still_wrong(last, last_ended, last_present), [])
        praise_last = _score(PRAISE, last, last_present, []) + (1.5 if last_ended else 0)
        return praise_last > problem_last

    asks_to_know = re.search(r"\b(want(s)? to know|like to know|need to know|asking (how|what|whether|if))\b", t)
    if asks_to_know:
        request = 0.0

    def decide(kind: str) -> tuple[str, bool]:
        why.extend(found.get(kind, []))
        if sarcasm and kind == "problem":
            why.append("problem: sarcasm (a cheerful opening about what broke)")
        return kind, sarcasm

    if churn >= 3:
        return decide("churn-risk")
    if sarcasm and problem >= 2:
        return decide("problem")
    # an ask that names the pain behind it ("would save them copy and paste", "they keep asking", "drivers
    # keep improvising") is still an ask: one problem cue, or only repetition and manual work, does not win
    motive_only = all(f.split(": ", 1)[1] in ("repeat", "manual", "slow") for f in found["problem"])
    if request >= 2 and (problem <= 2 or motive_only) and not re.search(r"\bstill\b", t):
        return decide("request")
    # a question that mentions a state ("can drawings be viewed offline", "is it normal that … still not …")
    if question >= 2 and problem <= 2 and re.match(r"(is|are|does|do|can|how do|what)\b", t):
        return decide("question")
    if problem >= 2:
        improvement = praise >= 3 and (ended or last_clause_praised())
        if not improvement:
            return decide("problem")
    if request >= 2 and not (
        question >= 2
        and re.search(
            r"^(can|is|does|do) (the|it|tenants|owners|"
            r"drawings|two|relatives|clients|subcontractors|"
            r"carers|volunteers|we claim)",
            t,
        )
    ):
        return decide("request")
    if question >= 2 and not (praise >= 3 and not t.endswith("?")):
        return decide("question")
    if praise >= 1.5:
        return decide("praise")
    if request >= 2:
        return decide("request")
    return "other", sarcasm


def _tone(t: str) -> float:
    """VADER's compound score of normalised text `t` (negation, boosters, "but", emoji), in [-1, 1]."""
    vader = _vader()
    if t.isascii():
        # VADER scores the words of its lexicon alone (emoji become words first): with none, it says 0.0. Half the
        # messages have none, and VADER would take a fifth of their time to say so. It reads a word (split at
        # white space, lower case) with the punctuation around it stripped, or as it is when little is left.
        words = t.lower().split()
        lexicon = vader.lexicon.keys()
        if lexicon.isdisjoint(words) and lexicon.isdisjoint([w.strip(string.punctuation) for w in words]):
            return 0.0
    v: float = vader.polarity_scores(t)["compound"]  # vaderSentiment has no type hints
    return v


def _sentiment(t: str, kind: str, sarcasm: bool, v: float) -> float:
    """Sentiment in [-1, 1] from the tone `v` of normalised text `t`, steered by its kind and by sarcasm."""
    if kind == "churn-risk":
        s = min(-0.35, 0.4 * v - 0.45)
    elif kind == "problem":
        s = -0.6 if sarcasm else min(-0.2, 0.4 * v - 0.4)
    elif kind == "praise":
        s = max(0.25, 0.5 * v + 0.4)
    elif kind in ("request", "question"):
        frustrated = re.search(r"\b(keep asking|third time|again|still|frustrat|annoy)", t)
        s = -0.3 if frustrated else 0.1 * v
    else:
        s = 0.4 * v if abs(v) >= 0.5 else 0.0
    return round(max(-1.0, min(1.0, s)), 2)


# How the cues and the model (bot.textmodel) are combined, chosen on the leave-one-source-out figures (EVAL.md):
# - the model overrules the cues' kind when it is at least MODEL_OVERRULES_AT sure; when the cues found nothing
#   ("other"), its kind stands from MODEL_DECIDES_AT; it says churn-risk from MODEL_SAYS_CHURN_AT (the kind a
#   team most needs to see: a missed churn risk costs more than a question read as one);
# - it never overrules a churn risk the cues found, never says "other" (what it says when it recognises
#   nothing: "Therapists can't see their Friday schedule on mobile" was "other, 72% sure, from 'friday'"), and
#   never overrules a kind it was not fitted on (a model fitted without any request knows nothing about them);
# - when neither found a kind, a clear tone of the words (VADER's |compound| >= TONE_DECIDES_AT) makes it
#   praise or a problem: the customer is pleased, or something is wrong.
MODEL_OVERRULES_AT = 0.6
MODEL_DECIDES_AT = 0.2
MODEL_SAYS_CHURN_AT = 0.4
TONE_DECIDES_AT = 0.5
MODEL_KEEPS = frozenset({"churn-risk"})
MODEL_NEVER_SAYS = frozenset({"other"})
# - praise or a problem the model decided at under UNSURE_BELOW is weakly supported: which of the two (and so
#   the sentiment's sign, which follows the kind) then comes from the model's praise-vs-problem and the tone
#   together, LEAN = P(praise) - P(problem) - P(churn-risk) + TONE_WEIGHT * VADER, when |LEAN| >= LEAN_MARGIN.
#   Requests and questions keep their neutral sign (VADER finds "approved" positive in "asked whether
#   timesheets can be approved in bulk"). Chosen on the leave-one-source-out figures of every source but the
#   worst one (product reviews), whose figure stays blind to the choice (EVAL.md).
UNSURE_BELOW = 0.9
TONE_WEIGHT = 2.0
LEAN_MARGIN = 0.1


def classify(text: str, team_id: str | None = None) -> Classification:
    """Kind, sentiment and what decided them, for one message; with `team_id`, what people in that
    workspace corrected in similar messages comes first (bot.memory)."""
    return classify_with(text, textmodel.shipped(), team_id)


def classify_with(
    text: str,
    model: textmodel.LinearModel | None,
    team_id: str | None = None,
    overrule_at: float = MODEL_OVERRULES_AT,
    decide_at: float = MODEL_DECIDES_AT,
    churn_at: float = MODEL_SAYS_CHURN_AT,
    tone_at: float | None = TONE_DECIDES_AT,
    unsure_below: float | None = UNSURE_BELOW,
    tone_weight: float = TONE_WEIGHT,
    lean_margin: float = LEAN_MARGIN,
) -> Classification:
    """`classify` with a given model (None: the cues alone) and thresholds, for the evaluation's
    leave-one-source-out runs; `tone_at` None: the tone never decides a kind; `unsure_below` None: the model's
    praise or problem stands however unsure."""
    t = normalise(text)
    why: list[str] = []
    found: dict[str, list[str]] = {}
    kind, sarcasm = _kind(t, why, found)
    tone = _tone(t)
    if model is not None and kind not in MODEL_KEEPS and kind in model.classes:
        cues = [c for k in found for c in found[k]]
        pred = model.predict_text(t, cues, kind, tone)
        need = decide_at if kind == "other" else overrule_at
        if pred.kind == "churn-risk":
            need = min(need, churn_at)
        # an ask ending in "?" is still an ask (the labelling rule): a question mark does not overrule it
        asked = kind == "request" and pred.kind == "question"
        if pred.kind != kind and pred.probability >= need and not asked and pred.kind not in MODEL_NEVER_SAYS:
            kind = pred.kind
            why = list(found.get(kind, []))
            said = ", ".join(model.evidence(pred)) or "the wording as a whole"
            why.append(f"{kind}: the model, {pred.probability:.0%} sure ({said})")
            if unsure_below is not None and pred.probability < unsure_below and kind in ("praise", "problem"):
                p = _probabilities(model, pred)
                lean = p.get("praise", 0.0) - p.get("problem", 0.0) - p.get("churn-risk", 0.0) + tone_weight * tone
                if abs(lean) >= lean_margin and (kind == "praise") != (lean > 0):
                    kind = "praise" if lean > 0 else "problem"
                    why = list(found.get(kind, []))
                    why.append(
                        f"{kind}: the model unsure ({pred.probability:.0%} {pred.kind}), its praise-vs-problem and "
                        f"the tone lean {'positive' if lean > 0 else 'negative'} ({lean:+.2f}, VADER {tone:+.2f})"
                    )
    if kind == "other" and tone_at is not None and abs(tone) >= tone_at:
        kind = "praise" if tone > 0 else "problem"
        why = [f"{kind}: no cue, a clearly {'positive' if tone > 0 else 'negative'} tone (VADER {tone:+.2f})"]
    if team_id is not None:
        recalled = memory.recall(team_id, t, normalise)
        if recalled is not None:
            kind = recalled.kind
            n = recalled.count
            why = [f"{kind}: people here corrected {n} similar message{'s' if n != 1 else ''} to it"]
    if _REPORTED.search(t) and kind != "other":
        why.append("read as reported speech")
    return Classification(kind, _sentiment(t, kind, sarcasm, tone), tuple(dict.fromkeys(why)))


def _probabilities(model: textmodel.LinearModel, pred: textmodel.Prediction) -> dict[str, float]:
    """Every kind's probability for the message behind `pred` (the prediction keeps only the likeliest)."""
    scores = model.coef[:, pred.features] @ pred.weights + model.intercept if len(pred.features) else model.intercept
    e = np.exp(scores - scores.max())
    return dict(zip(model.classes, (e / e.sum()).tolist(), strict=True))


def classify_kind(text: str) -> str:
    return classify(text).kind
