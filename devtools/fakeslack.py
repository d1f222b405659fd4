"""A Slack simulator on 127.0.0.1 for the demo, the tests and the benchmarks: a Slack-compatible Web API server
that holds the app to Slack's documented contract.

It records every call, answers with Slack-shaped JSON and keeps the messages posted to it (so
conversations.history finds them). Unless told otherwise (`FakeSlackState.kinder`) it also enforces what the
real Slack enforces, each rule citing the docs.slack.dev page that documents it:

- Web API latency (a few milliseconds by default; `REALISTIC` 50–300 ms a call for deadline tests);
- per-method rate-limit tiers answering HTTP 429 with Retry-After (`_TIERS`), chat.postMessage 1 a second
  per channel, conversations.history/replies 1 a minute (15 items) for a commercially distributed
  non-Marketplace app (`app_distribution = "distributed"`);
- channel membership (`not_in_channel` / `channel_not_found`), and scopes checked against the manifest's bot
  scopes (`missing_scope`), including no DM / group-DM reads without im:/mpim: scopes;
- Block Kit limits (`invalid_blocks` for messages, `invalid_arguments` for views);
- a `trigger_id` usable once and within 3 seconds of the interaction that issued it;
- no Web API call on a request's thread before its answer but opening a modal (`calls_before_answer`: the app's
  clients mark such calls, entry.app.AppClient).

The test driver (tests.conftest.SlackDriver) uses `slash_text` to send a slash command's text escaped exactly
as the manifest's `should_escape` asks, `issue_trigger` for the trigger ids it hands out, and the contract's
`deadline` for the 3-second acknowledgement rule.

Tests can still script answers: `script` (used once each), `always` (standing), `latency`, `on_call`.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

# Web API latency: a few milliseconds by default (the suite stays fast); REALISTIC is what a real workspace
# answers in (pass it as FakeSlackState.latency for deadline tests and the realistic week)
DEFAULT_LATENCY = 0.003
REALISTIC = (0.05, 0.3)

# How long Slack waits for an answer to any request it sends the app, and how long a trigger_id lives.
# https://docs.slack.dev/interactivity/handling-user-interaction (acknowledge within 3 seconds;
# operation_timeout otherwise), https://docs.slack.dev/apis/events-api/ (events: 3 seconds, then retried with
# X-Slack-Retry-Num), https://docs.slack.dev/interactivity/implementing-slash-commands (3000 ms),
# https://docs.slack.dev/surfaces/modals (a trigger_id expires 3 seconds after it was issued, used once)
DEADLINE_SECONDS = 3.0
TRIGGER_SECONDS = 3.0


@dataclass
class Contract:
    """Which of Slack's documented rules the simulator enforces: every one, unless a test asks for a kinder Slack
    (`FakeSlackState.kinder`), naming the rule it cannot live with."""

    escaping: bool = True  # slash-command text as the manifest's should_escape makes Slack send it
    deadline: bool = True  # every request the driver sends must be answered within DEADLINE_SECONDS
    rate_limits: bool = True  # 429 + Retry-After past each method's tier
    membership: bool = True  # not_in_channel / channel_not_found where the app is not a member
    scopes: bool = True  # missing_scope for what the manifest's bot scopes do not grant
    block_kit: bool = True  # invalid_blocks / invalid_arguments past Block Kit's limits
    triggers: bool = True  # trigger_id used once, within TRIGGER_SECONDS
    # no Web API call on a request's thread before its answer but opening a modal (entry.app.ALLOWED_BEFORE_ANSWER)
    answer_first: bool = True


RULES = tuple(f.name for f in fields(Contract))


class DeadlineMissed(AssertionError):  # noqa: N818 - what Slack calls it
    """The app answered a request after Slack had stopped waiting (a test fails with it)."""


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float
    before_answer: bool = False  # made on a request's thread before the app answered it (entry.app.AppClient)


@dataclass
class FakeSlackState:
    calls: list[Call] = field(default_factory=list)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    # channel id -> conversation: {"id", "name", "is_private", "is_member" (default True), "is_im", "is_mpim", ...}.
    # A channel the simulator was not told about is a public channel the app was invited to (the demo and the
    # benchmarks make channel ids up); say otherwise here.
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    messages: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # channel -> messages
    # method -> list of scripted answers used once each: {"status": 429, "retry_after": 1}, {"status": 500},
    # {"error": "x"} or {"delay": 5} (answers normally, 5 s late)
    script: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # method -> a standing answer for every call until removed (same forms as `script`)
    always: dict[str, dict[str, Any]] = field(default_factory=dict)
    team_id: str = "T0DEMO"
    team_url: str = "https://demo.slack.com/"
    bot_user_id: str = "UBOT"
    lock: threading.Lock = field(default_factory=threading.Lock)
    ts_counter: int = 0
    # seconds every call takes before it is answered: a number, or a (low, high) range drawn from per call
    latency: float | tuple[float, float] = DEFAULT_LATENCY
    # where apps.connections.open sends Socket Mode clients (a WebSocket server of the tests)
    socket_url: str | None = None
    # called with (method, args) as each call arrives, before it is answered: for fault tests
    on_call: Callable[[str, dict[str, Any]], None] | None = None
    contract: Contract = field(default_factory=Contract)
    # "internal" (a single-workspace, customer-built app: ordinary tiers) or "distributed" (commercially
    # distributed, not approved for the Marketplace, installed since 29 May 2025: history/replies 1 a minute)
    app_distribution: str = "internal"
    # the bot token's scopes; None: exactly the manifest's bot scopes (entry.manifest.BOT_SCOPES)
    scopes: set[str] | None = None
    # the manifest the app was created from; None: entry.manifest.manifest() (its should_escape per command)
    manifest: dict[str, Any] | None = None
    triggers: dict[str, dict[str, Any]] = field(default_factory=dict)  # trigger_id -> {"at", "used"}
    buckets: dict[tuple[str, ...], list[float]] = field(default_factory=dict)  # rate-limit key -> [tokens, at]
    # Slack's own clock for rate limits and trigger expiry (a test may move it instead of sleeping)
    monotonic: Callable[[], float] = time.monotonic
    # Slack Connect: the organisations channels are shared with, team id -> {"id", "name", "domain"} (team.info
    # answers them; see FakeSlackServer.share_channel and add_external_user)
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)

    def kinder(self, *rules: str) -> None:
        """A kinder Slack for the few tests that need one: switch the named contract rules off (see Contract)."""
        for rule in rules:
            if rule not in RULES:
                raise ValueError(f"no such contract rule: {rule} (one of {', '.join(RULES)})")
            setattr(self.contract, rule, False)

    def granted(self) -> set[str]:
        if self.scopes is None:
            from entry.manifest import BOT_SCOPES

            self.scopes = set(BOT_SCOPES)
        return self.scopes

    def should_escape(self, command: str) -> bool:
        """The manifest's should_escape for `command` (False for a command the manifest does not declare)."""
        if self.manifest is None:
            from entry.manifest import manifest

            self.manifest = manifest()
        for c in self.manifest.get("features", {}).get("slash_commands", []):
            if c.get("command") == command:
                return bool(c.get("should_escape"))
        return False

    def calls_before_answer(self, since: int = 0) -> list[Call]:
        """Calls (from the `since`-th on) the app made on a request's thread before answering it, other than the
        ones Slack's 3 seconds leave room for (opening a modal)."""
        from entry.app import ALLOWED_BEFORE_ANSWER

        with self.lock:
            return [c for c in self.calls[since:] if c.before_answer and c.method not in ALLOWED_BEFORE_ANSWER]

    def issue_trigger(self, trigger_id: str) -> None:
        """Slack issued `trigger_id` with an interaction just now (the test driver calls this)."""
        with self.lock:
            self.triggers[trigger_id] = {"at": self.monotonic(), "used": False}

    def conversation(self, channel_id: str) -> dict[str, Any]:
        """What the simulator knows of a conversation (defaults: a public channel the app is in)."""
        c = self.channels.get(channel_id)
        if c is not None:
            return c
        if channel_id[:1] == "D":
            return {"id": channel_id, "is_im": True, "is_member": True}
        return {"id": channel_id, "name": channel_id.lower(), "is_private": False, "is_member": True}


# --- slash-command escaping -----------------------------------------------------------------------------------
# https://docs.slack.dev/interactivity/implementing-slash-commands ("Escaping"): with should_escape on, people,
# channels and links picked or typed in the composer reach the app as <@U…|name>, <#C…|name> and <url|label>;
# with it off they arrive as the plain text the person sees (@name, #name, the URL as typed). Either way the
# text is HTML-escaped: & < > arrive as &amp; &lt; &gt;.
# In SlackDriver.command's text, <@U…>, <#C…> and <url|label> mean "the person picked this entity" (what a real
# composer turns into a mention or a link); anything else is what the person typed.
_ENTITY = re.compile(
    r"<@(?P<user>[UW][A-Z0-9]+)(?:\|(?P<uname>[^>]*))?>"
    r"|<#(?P<chan>[CGD][A-Z0-9]+)(?:\|(?P<cname>[^>]*))?>"
    r"|<(?P<url>(?:https?|mailto):[^|>\s]+)(?:\|(?P<label>[^>]*))?>"
)
# a bare domain or URL a person typed: Slack's composer turns it into a link
_TYPED_LINK = re.compile(
    r"(?<![\w@/.<|-])((?:https?://)?(?:[a-z0-9-]+\.)+(?:com|io|org|net|co|dev|app|ai|uk)(?:/\S*)?)"
)
_TYPED_CHANNEL = re.compile(r"(?<![\w<])#([a-z0-9][a-z0-9_-]*)")


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slash_text(state: FakeSlackState, command: str, typed: str) -> str:
    """The `text` Slack sends for `command` when a person typed `typed` (entities as described above)."""
    if not state.contract.escaping:
        return typed
    escape = state.should_escape(command)
    out: list[str] = []
    pos = 0
    for m in _ENTITY.finditer(typed):
        out.append(_plain(state, typed[pos : m.start()], escape))
        out.append(_entity(state, m, escape))
        pos = m.end()
    out.append(_plain(state, typed[pos:], escape))
    return "".join(out)


def _user_name(state: FakeSlackState, user_id: str) -> str:
    u = state.users.get(user_id) or {}
    return u.get("name") or user_id.lower()


def _entity(state: FakeSlackState, m: re.Match[str], escape: bool) -> str:
    if m.group("user"):
        name = m.group("uname") or _user_name(state, m.group("user"))
        return f"<@{m.group('user')}|{_html(name)}>" if escape else "@" + _html(name)
    if m.group("chan"):
        name = m.group("cname") or state.conversation(m.group("chan")).get("name") or m.group("chan").lower()
        return f"<#{m.group('chan')}|{_html(name)}>" if escape else "#" + _html(name)
    url, label = m.group("url"), m.group("label")
    if escape:
        return f"<{_html(url)}|{_html(label)}>" if label else f"<{_html(url)}>"
    return _html(label or url)


def _plain(state: FakeSlackState, text: str, escape: bool) -> str:
    """Typed text: HTML-escaped; with escaping on, a known #channel and a typed link become Slack's markup.
    A typed @name stays text: only a person picked from the @ list becomes a mention."""
    if not escape:
        return _html(text)
    names = {c.get("name"): cid for cid, c in state.channels.items() if c.get("name")}
    out: list[str] = []
    pos = 0
    for m in re.finditer(f"{_TYPED_CHANNEL.pattern}|{_TYPED_LINK.pattern}", text, re.IGNORECASE):
        out.append(_html(text[pos : m.start()]))
        if m.group(1) is not None:
            cid = names.get(m.group(1))
            out.append(f"<#{cid}|{m.group(1)}>" if cid else _html(m.group(0)))
        else:
            typed = m.group(2)
            url = typed if typed.lower().startswith("http") else "http://" + typed
            out.append(f"<{_html(url)}|{_html(typed)}>" if url != typed else f"<{_html(url)}>")
        pos = m.end()
    out.append(_html(text[pos:]))
    return "".join(out)


# --- rate limits ----------------------------------------------------------------------------------------------
# https://docs.slack.dev/apis/web-api/rate-limits: limits apply per method, per workspace, per app. Tier 1 is
# 1+ a minute, Tier 2 20+, Tier 3 50+, Tier 4 100+, each tolerating bursts: modelled as a token bucket holding a
# minute's allowance (Tier 1: a small burst), refilled at the tier's rate. Over it: HTTP 429 with Retry-After.
_TIER_PER_MINUTE = {1: 1, 2: 20, 3: 50, 4: 100}
_TIER_BURST = {1: 5, 2: 20, 3: 50, 4: 100}
# each method's tier, from its docs.slack.dev/reference/methods/<method> page
_TIERS = {
    "apps.connections.open": 1,
    "conversations.list": 2,
    "users.list": 2,
    "chat.update": 3,
    "chat.delete": 3,
    "conversations.history": 3,
    "conversations.replies": 3,
    "conversations.info": 3,
    "conversations.join": 3,
    "conversations.members": 4,
    "users.lookupByEmail": 3,
    "reactions.get": 3,
    "team.info": 3,
    "chat.postEphemeral": 4,
    "chat.getPermalink": 4,
    "users.info": 4,
    "views.open": 4,
    "views.update": 4,
    "views.push": 4,
    "views.publish": 4,
    "auth.test": 4,
    "files.getUploadURLExternal": 4,
    "files.completeUploadExternal": 4,
    "oauth.v2.access": 4,
}
# https://docs.slack.dev/reference/methods/chat.postMessage ("Rate limiting"): 1 message a second per channel,
# short bursts above it allowed, and a workspace-wide limit of several hundred messages a minute
POST_PER_CHANNEL = (1.0, 10.0)  # (per second, burst)
POST_PER_WORKSPACE = (600 / 60, 600.0)
# https://docs.slack.dev/changelog/2025/05/29/rate-limit-changes-for-non-marketplace-apps: commercially
# distributed apps not approved for the Marketplace, installed since 29 May 2025: conversations.history and
# conversations.replies 1 request a minute, at most 15 objects each (internal apps keep Tier 3)
DISTRIBUTED_HISTORY = (1 / 60, 1.0)
DISTRIBUTED_HISTORY_ITEMS = 15


def _take(state: FakeSlackState, key: tuple[str, ...], per_second: float, burst: float) -> float:
    """Take one request from `key`'s bucket: 0 when allowed, else the seconds until one is (Retry-After)."""
    now = state.monotonic()
    with state.lock:
        tokens, at = state.buckets.get(key, [burst, now])
        tokens = min(burst, tokens + (now - at) * per_second)
        if tokens >= 1:
            state.buckets[key] = [tokens - 1, now]
            return 0.0
        state.buckets[key] = [tokens, now]
        return (1 - tokens) / per_second


def _rate_limited(state: FakeSlackState, method: str, args: dict[str, Any]) -> int | None:
    """Retry-After seconds when this call is over its method's limit, else None."""
    if method in ("chat.postMessage", "chat.scheduleMessage"):
        wait = _take(state, (method, "channel", str(args.get("channel"))), *POST_PER_CHANNEL)
        wait = wait or _take(state, (method, "workspace"), *POST_PER_WORKSPACE)
    elif method in ("conversations.history", "conversations.replies") and state.app_distribution == "distributed":
        wait = _take(state, (method,), *DISTRIBUTED_HISTORY)
    elif method in _TIERS:
        tier = _TIERS[method]
        wait = _take(state, (method,), _TIER_PER_MINUTE[tier] / 60, _TIER_BURST[tier])
    else:
        return None
    return max(1, math.ceil(wait)) if wait else None


# --- scopes and membership ------------------------------------------------------------------------------------
# Each method's required bot scopes (any one of them), from its docs.slack.dev/reference/methods page; history
# and info need the scope of the conversation's kind (https://docs.slack.dev/reference/methods/conversations.history:
# channels:history, groups:history, im:history, mpim:history).
_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.postEphemeral": "chat:write",
    "chat.update": "chat:write",
    "chat.delete": "chat:write",
    "chat.scheduleMessage": "chat:write",
    "users.info": "users:read",
    "users.list": "users:read",
    "users.lookupByEmail": "users:read.email",
    "reactions.get": "reactions:read",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "team.info": "team:read",
    "conversations.join": "channels:join",
}
_KIND_SCOPE = {"public": "channels", "private": "groups", "im": "im", "mpim": "mpim"}


def _kind(conv: dict[str, Any]) -> str:
    if conv.get("is_im"):
        return "im"
    if conv.get("is_mpim") or str(conv.get("name") or "").startswith("mpdm-"):
        return "mpim"
    return "private" if conv.get("is_private") else "public"


def _refused(state: FakeSlackState, method: str, args: dict[str, Any]) -> dict[str, Any] | None:
    """Slack's error for a call the app's scopes or memberships do not allow, else None."""
    granted = state.granted()

    def missing(needed: str) -> dict[str, Any] | None:
        if not state.contract.scopes or needed in granted:
            return None
        return {"ok": False, "error": "missing_scope", "needed": needed, "provided": ",".join(sorted(granted))}

    if method in _SCOPES and (err := missing(_SCOPES[method])):
        return err
    channel = str(args.get("channel") or "")
    if method in ("conversations.history", "conversations.replies", "conversations.info", "conversations.members"):
        conv = state.conversation(channel)
        kind = _kind(conv)
        suffix = "history" if method in ("conversations.history", "conversations.replies") else "read"
        if err := missing(f"{_KIND_SCOPE[kind]}:{suffix}"):
            return err
        if not state.contract.membership or conv.get("is_member", True):
            return None
        # https://docs.slack.dev/reference/methods/conversations.history: not_in_channel for a public channel the
        # app was not added to; a private conversation it is not in does not exist for it (channel_not_found)
        if kind == "public":
            return None if method == "conversations.info" else {"ok": False, "error": "not_in_channel"}
        return {"ok": False, "error": "channel_not_found"}
    if method in ("chat.postMessage", "chat.postEphemeral", "chat.update", "chat.scheduleMessage"):
        if not state.contract.membership or channel[:1] in ("U", "W", "D"):
            return None  # a DM to a person: the app's own conversation with them
        conv = state.conversation(channel)
        if conv.get("is_member", True):
            return None
        # https://docs.slack.dev/reference/methods/chat.postMessage: not_in_channel unless chat:write.public lets a
        # bot post to a public channel it is not in; private conversations it is not in are channel_not_found
        if _kind(conv) == "public":
            if method == "chat.postMessage" and "chat:write.public" in granted:
                return None
            return {"ok": False, "error": "not_in_channel"}
        return {"ok": False, "error": "channel_not_found"}
    return None


# --- Block Kit ------------------------------------------------------------------------------------------------
# https://docs.slack.dev/reference/block-kit/blocks: up to 50 blocks in a message, 100 in a modal or the Home tab.
# Per-block and per-element limits from each page under https://docs.slack.dev/reference/block-kit/:
# section text 3000 and fields 10 (each 2000), header 150, context 10 elements, actions 25 elements, button text
# 75 / value 2000, select options 100 (option text 75, value 150), placeholder 150, block_id and action_id 255.
# https://docs.slack.dev/reference/views/modal-views: title, submit and close 24 characters, private_metadata
# 3000, callback_id 255.
MAX_BLOCKS = {"message": 50, "modal": 100, "home": 100}


def _text_len(obj: Any) -> int:
    return len(obj.get("text") or "") if isinstance(obj, dict) else len(str(obj or ""))


def _check_element(el: dict[str, Any], where: str, errors: list[str]) -> None:
    t = el.get("type")

    def limit(value: Any, most: int, what: str) -> None:
        if value is not None and _text_len(value) > most:
            errors.append(f"{where}/{what}: must be at most {most} characters")

    limit(el.get("action_id"), 255, "action_id")
    limit(el.get("placeholder"), 150, "placeholder")
    if t == "button":
        limit(el.get("text"), 75, "text")
        limit(el.get("value"), 2000, "value")
        limit(el.get("url"), 3000, "url")
    options = el.get("options")
    if options is not None:
        most = {"overflow": 5, "radio_buttons": 10, "checkboxes": 10}.get(str(t), 100)
        if len(options) > most:
            errors.append(f"{where}/options: must provide at most {most} items")
        for i, o in enumerate(options):
            limit(o.get("text"), 75, f"options/{i}/text")
            limit(o.get("value"), 150, f"options/{i}/value")
    groups = el.get("option_groups")
    if groups is not None and len(groups) > 100:
        errors.append(f"{where}/option_groups: must provide at most 100 items")


def block_kit_errors(blocks: Any, surface: str = "message") -> list[str]:
    """Why Slack would refuse these blocks on `surface` ("message", "modal", "home"): [] when it would not."""
    if blocks is None:
        return []
    if not isinstance(blocks, list):
        return ["blocks: must be an array"]
    errors: list[str] = []
    if len(blocks) > MAX_BLOCKS[surface]:
        errors.append(f"blocks: must provide at most {MAX_BLOCKS[surface]} items (got {len(blocks)})")
    for i, b in enumerate(blocks):
        where = f"blocks/{i}"
        if not isinstance(b, dict) or not b.get("type"):
            errors.append(f"{where}: a block needs a type")
            continue
        t = b["type"]
        if b.get("block_id") is not None and len(str(b["block_id"])) > 255:
            errors.append(f"{where}/block_id: must be at most 255 characters")
        if t == "section":
            if not b.get("text") and not b.get("fields"):
                errors.append(f"{where}: a section needs text or fields")
            if b.get("text") is not None and not 1 <= _text_len(b["text"]) <= 3000:
                errors.append(f"{where}/text: must be 1 to 3000 characters (got {_text_len(b['text'])})")
            flds = b.get("fields") or []
            if len(flds) > 10:
                errors.append(f"{where}/fields: must provide at most 10 items (got {len(flds)})")
            errors.extend(
                f"{where}/fields/{j}: must be at most 2000 characters"
                for j, f in enumerate(flds)
                if _text_len(f) > 2000
            )
            if isinstance(b.get("accessory"), dict):
                _check_element(b["accessory"], f"{where}/accessory", errors)
        elif t == "header":
            if not 1 <= _text_len(b.get("text")) <= 150:
                errors.append(f"{where}/text: must be 1 to 150 characters (got {_text_len(b.get('text'))})")
        elif t == "context":
            els = b.get("elements") or []
            if not 1 <= len(els) <= 10:
                errors.append(f"{where}/elements: must provide 1 to 10 items (got {len(els)})")
        elif t == "actions":
            els = b.get("elements") or []
            if not 1 <= len(els) <= 25:
                errors.append(f"{where}/elements: must provide 1 to 25 items (got {len(els)})")
            for j, el in enumerate(els):
                _check_element(el, f"{where}/elements/{j}", errors)
        elif t == "input":
            if not 1 <= _text_len(b.get("label")) <= 2000:
                errors.append(f"{where}/label: must be 1 to 2000 characters")
            if isinstance(b.get("element"), dict):
                _check_element(b["element"], f"{where}/element", errors)
    return errors


def view_errors(view: Any) -> list[str]:
    if not isinstance(view, dict):
        return ["view: must be an object"]
    surface = "home" if view.get("type") == "home" else "modal"
    errors = block_kit_errors(view.get("blocks") or [], surface)
    if surface == "modal":
        for key in ("title", "submit", "close"):
            if view.get(key) is not None and _text_len(view[key]) > 24:
                errors.append(f"view/{key}: must be at most 24 characters")
        if not view.get("title"):
            errors.append("view/title: a modal needs a title")
    if len(str(view.get("private_metadata") or "")) > 3000:
        errors.append("view/private_metadata: must be at most 3000 characters")
    if len(str(view.get("callback_id") or "")) > 255:
        errors.append("view/callback_id: must be at most 255 characters")
    return errors


def _invalid(method: str, args: dict[str, Any]) -> dict[str, Any] | None:
    if method in ("views.open", "views.update", "views.push", "views.publish"):
        errs = view_errors(args.get("view"))
        if errs:
            # https://docs.slack.dev/reference/methods/views.open: invalid_arguments, the reasons in response_metadata
            return {"ok": False, "error": "invalid_arguments", "response_metadata": {"messages": errs}}
    elif method in ("chat.postMessage", "chat.postEphemeral", "chat.update", "response_url"):
        errs = block_kit_errors(args.get("blocks"))
        if errs:
            # https://docs.slack.dev/reference/methods/chat.postMessage: invalid_blocks
            return {"ok": False, "error": "invalid_blocks", "response_metadata": {"messages": errs}}
    return None


def _trigger(state: FakeSlackState, args: dict[str, Any]) -> dict[str, Any] | None:
    """views.open / views.push exchange a trigger_id once, within 3 seconds of the interaction
    (https://docs.slack.dev/surfaces/modals, "trigger_id ... expires in 3 seconds")."""
    tid = str(args.get("trigger_id") or args.get("interactivity_pointer") or "")
    with state.lock:
        t = state.triggers.get(tid)
        if t is None:
            return {
                "ok": False,
                "error": "invalid_arguments",
                "response_metadata": {"messages": ["invalid `trigger_id`"]},
            }
        if t["used"]:
            return {"ok": False, "error": "exchanged_trigger_id"}
        if state.monotonic() - t["at"] > TRIGGER_SECONDS:
            return {"ok": False, "error": "expired_trigger_id"}
        t["used"] = True
    return None


def _answer(state: FakeSlackState, method: str, args: dict[str, Any]) -> dict[str, Any]:
    if method in ("auth.test",):
        return {
            "ok": True,
            "url": state.team_url,
            "team": "Demo",
            "team_id": state.team_id,
            "user_id": state.bot_user_id,
            "bot_id": "BBOT",
            "user": "signalloop",
        }
    if method == "apps.connections.open":
        if not state.socket_url:
            return {"ok": False, "error": "not_allowed_token_type"}
        return {"ok": True, "url": state.socket_url}
    if method == "users.info":
        u = state.users.get(args.get("user", ""))
        if u is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": _connect_user(state, u)}
    if method == "team.info":
        # https://docs.slack.dev/reference/methods/team.info: a connected organisation's name and domain
        team = args.get("team") or state.team_id
        if team == state.team_id:
            return {"ok": True, "team": {"id": team, "name": "Demo", "domain": "demo"}}
        t = state.teams.get(team)
        return {"ok": True, "team": dict(t)} if t else {"ok": False, "error": "team_not_found"}
    if method == "users.conversations":
        # https://docs.slack.dev/reference/methods/users.conversations: the conversations the app is a member of
        mine = [_connect_channel(state, state.conversation(cid)) for cid in state.channels]
        mine = [c for c in mine if c.get("is_member", True) and _kind(c) in ("public", "private")]
        return {"ok": True, "channels": mine, "response_metadata": {"next_cursor": ""}}
    if method == "users.lookupByEmail":
        email = str(args.get("email") or "").casefold()
        for u in state.users.values():
            if str((u.get("profile") or {}).get("email") or "").casefold() == email:
                return {"ok": True, "user": u}
        return {"ok": False, "error": "users_not_found"}
    if method == "conversations.list":
        convs = [state.conversation(cid) for cid in state.channels]
        convs = [c for c in convs if _kind(c) == "public" or c.get("is_member", True)]
        start = int(args.get("cursor") or 0)
        size = max(1, min(int(args.get("limit") or 100), 1000))
        page = convs[start : start + size]
        nxt = str(start + size) if start + size < len(convs) else ""
        return {"ok": True, "channels": page, "response_metadata": {"next_cursor": nxt}}
    if method == "conversations.info":
        c = state.channels.get(args.get("channel", ""))
        if c is None:
            return {"ok": False, "error": "channel_not_found"}
        # is_member: whether the app is in it (https://docs.slack.dev/reference/methods/conversations.info)
        return {"ok": True, "channel": {"is_member": True, **_connect_channel(state, c)}}
    if method in ("conversations.history", "conversations.replies"):
        ch = args.get("channel", "")
        ts = args.get("latest") or args.get("ts")
        msgs = [m for m in state.messages.get(ch, []) if ts is None or m.get("ts") == ts]
        if state.app_distribution == "distributed":
            msgs = msgs[:DISTRIBUTED_HISTORY_ITEMS]
        return {"ok": True, "messages": msgs[:1] if ts else msgs, "has_more": False}
    if method in ("chat.postMessage", "chat.update"):
        ch = args.get("channel", "")
        with state.lock:
            state.ts_counter += 1
            ts = args.get("ts") or f"{int(time.time())}.{state.ts_counter:06d}"
        msg = {
            "type": "message",
            "ts": ts,
            "text": args.get("text", ""),
            "bot_id": "BBOT",
            "user": state.bot_user_id,
            "blocks": args.get("blocks"),
        }
        if args.get("thread_ts"):
            msg["thread_ts"] = args["thread_ts"]
        if method == "chat.postMessage":
            state.messages.setdefault(ch, []).append(msg)
        return {"ok": True, "channel": ch, "ts": ts, "message": msg}
    if method == "chat.postEphemeral":
        return {"ok": True, "message_ts": f"{int(time.time())}.000001"}
    if method == "chat.getPermalink":
        return {
            "ok": True,
            "permalink": f"{state.team_url}archives/{args.get('channel')}/"
            f"p{str(args.get('message_ts', '')).replace('.', '')}",
        }
    if method in ("views.open", "views.update", "views.publish", "views.push"):
        view = args.get("view")
        if isinstance(view, str):
            view = json.loads(view)
        return {"ok": True, "view": {"id": "V123", "hash": "h1", **(view or {})}}
    if method == "oauth.v2.access":
        return {
            "ok": True,
            "access_token": "xoxb-installed-token",
            "token_type": "bot",
            "scope": "commands,chat:write",
            "bot_user_id": "UBOT2",
            "app_id": "A1",
            "team": {"id": "T0INSTALL", "name": "Installed"},
            "enterprise": None,
            "authed_user": {"id": "UINSTALLER"},
            "is_enterprise_install": False,
        }
    if method in ("files.getUploadURLExternal",):
        return {"ok": True, "upload_url": args.get("_base", "") + "upload", "file_id": "F123"}
    if method in ("files.completeUploadExternal",):
        return {"ok": True, "files": [{"id": "F123"}]}
    return {"ok": True}


def _contract_answer(
    state: FakeSlackState, method: str, args: dict[str, Any]
) -> tuple[int, dict[str, Any], int | None]:
    """(status, body, Retry-After) for a call, with the contract's rules applied before the plain answer."""
    c = state.contract
    if c.rate_limits and (wait := _rate_limited(state, method, args)) is not None:
        return 429, {"ok": False, "error": "ratelimited"}, wait
    if err := _refused(state, method, args):
        return 200, err, None
    if c.block_kit and (err := _invalid(method, args)):
        return 200, err, None
    if c.triggers and method in ("views.open", "views.push") and (err := _trigger(state, args)):
        return 200, err, None
    if method in ("conversations.history", "conversations.replies") and state.app_distribution == "distributed":
        args["limit"] = min(int(args.get("limit") or DISTRIBUTED_HISTORY_ITEMS), DISTRIBUTED_HISTORY_ITEMS)
    return 200, _answer(state, method, args), None


def _connect_channel(state: FakeSlackState, c: dict[str, Any]) -> dict[str, Any]:
    """A channel as conversations.info shows it, with Slack Connect's fields.

    https://docs.slack.dev/apis/slack-connect: a shared channel has is_shared, one shared with another
    organisation is_ext_shared, and connected_team_ids lists every team in it (the host's too).
    """
    ext = bool(c.get("is_ext_shared"))
    out = {"is_shared": ext, "is_ext_shared": ext, **c}
    if ext:
        out.setdefault("connected_team_ids", [state.team_id])
        out.setdefault("context_team_id", state.team_id)
    return out


def _connect_user(state: FakeSlackState, u: dict[str, Any]) -> dict[str, Any]:
    """A user as users.info shows them: team_id is their own organisation's.

    https://docs.slack.dev/apis/slack-connect: is_stranger marks a person of another organisation who shares no
    channel with the app.
    """
    out = {"team_id": state.team_id, **u}
    if out["team_id"] != state.team_id:
        shared = any(
            out["team_id"] in (c.get("connected_team_ids") or [])
            for c in state.channels.values()
            if c.get("is_member", True)
        )
        if not shared:
            out["is_stranger"] = True
    return out


class _Handler(BaseHTTPRequestHandler):
    server: FakeSlackServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path = urlparse(self.path).path.strip("/")
        method = "response_url" if path.startswith("response") else path.split("/")[-1]
        ctype = self.headers.get("Content-Type") or ""
        args: dict[str, Any] = {}
        if path == "upload":
            self._json(200, {"ok": True})
            return
        if "json" in ctype:
            args = json.loads(raw or b"{}")
        else:
            args = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        for k in ("blocks", "view", "attachments"):
            if isinstance(args.get(k), str):
                try:
                    args[k] = json.loads(args[k])
                except ValueError:
                    pass
        args["_base"] = f"http://127.0.0.1:{self.server.server_address[1]}/"
        st = self.server.state
        with st.lock:
            before = self.headers.get("X-Signalloop-Before-Answer") == "1"
            st.calls.append(Call(method, {k: v for k, v in args.items() if k != "_base"}, time.time(), before))
            scripted = st.script.get(method)
            step = scripted.pop(0) if scripted else st.always.get(method)
        if st.on_call is not None:
            st.on_call(method, args)
        latency = st.latency
        if isinstance(latency, tuple):
            latency = random.uniform(*latency)  # noqa: S311 - a simulated delay, not cryptography
        if latency:
            time.sleep(latency)
        if step is not None and step.get("delay"):
            time.sleep(step["delay"])
        if step is not None and step.get("status") == 429:
            self._json(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(step.get("retry_after", 1))})
            return
        if step is not None and step.get("status", 200) != 200:
            self._json(step["status"], {"ok": False, "error": "internal_error"})
            return
        if step is not None and "error" in step:
            self._json(200, {"ok": False, "error": step["error"]})
            return
        status, body, retry_after = _contract_answer(st, method, args)
        self._json(status, body, {"Retry-After": str(retry_after)} if retry_after is not None else None)

    do_GET = do_POST  # noqa: N815 - some clients GET read methods

    def _json(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeSlackServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: FakeSlackState | None = None, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.state = state or FakeSlackState()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/api/"

    def start(self) -> FakeSlackServer:
        # stop() waits for the serving loop to look at its flag: every 50 ms, not socketserver's 0.5 s (a test's
        # teardown would wait out most of that; the suite starts and stops one per test)
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-slack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()

    def calls(self, method: str | None = None) -> list[Call]:
        with self.state.lock:
            return [c for c in self.state.calls if method is None or c.method == method]

    def reset(self) -> None:
        with self.state.lock:
            self.state.calls.clear()

    # --- Slack Connect (https://docs.slack.dev/apis/slack-connect) ---------------------------------------------

    def share_channel(self, channel_id: str, name: str, orgs: list[tuple[str, str, str]], member: bool = True) -> None:
        """A channel shared with other organisations, each (team id, name, domain); the app a member of it."""
        with self.state.lock:
            for team_id, team_name, domain in orgs:
                self.state.teams[team_id] = {"id": team_id, "name": team_name, "domain": domain}
            self.state.channels[channel_id] = {
                "id": channel_id,
                "name": name,
                "is_private": False,
                "is_ext_shared": True,
                "connected_team_ids": [self.state.team_id] + [o[0] for o in orgs],
                "is_member": member,
            }

    def add_external_user(self, user_id: str, name: str, team_id: str) -> None:
        """A person of another organisation (users.info answers their own team_id)."""
        with self.state.lock:
            self.state.users[user_id] = {
                "id": user_id,
                "name": name.lower(),
                "real_name": name,
                "team_id": team_id,
                "tz": "America/New_York",
                "profile": {"display_name": name, "real_name": name, "team": team_id},
            }
