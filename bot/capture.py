"""Message -> signal decisions: linked channel, watch channel, reaction, shortcut, command, import."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from bot import customers
from bot.classify import classify
from bot.effects import Effect, Ephemeral
from bot.kinds import KINDS
from bot.render.modals import customer_picker
from bot.safety import safe
from storage import repo, slack_state

MAX_SIGNAL_TEXT = 4000
MAX_NOTE = 1000
# a view's private_metadata holds at most 3000 characters:
# https://docs.slack.dev/reference/views/modal-views (the message kept server-side when it does not fit)
MAX_METADATA = 3000

PATH_CHANNEL = "channel"
PATH_WATCH = "watch"
PATH_REACTION = "reaction"
PATH_SHORTCUT = "shortcut"
PATH_COMMAND = "command"
PATH_IMPORT = "import"


@dataclass(frozen=True)
class MessageIn:
    """A Slack message as capture needs it (plain values, no Slack objects)."""

    team_id: str
    channel_id: str
    ts: str
    text: str
    user_id: str | None
    thread_ts: str | None = None
    event_id: str | None = None
    is_private: bool = False
    author_name: str | None = None
    permalink: str | None = None
    # Slack Connect: the author's organisation (the event's user_team); None = the workspace's own
    author_team_id: str | None = None

    @property
    def posted_at(self) -> datetime:
        return ts_to_datetime(self.ts)

    @property
    def external(self) -> bool:
        """Written by someone of another organisation (https://docs.slack.dev/apis/slack-connect: user_team)."""
        return self.author_team_id is not None and self.author_team_id != self.team_id


# message subtypes that are a person speaking; joins, bots, topic changes … are not
PERSON_SUBTYPES = {None, "thread_broadcast", "file_share", "me_message"}


def is_person_message(event: dict[str, Any]) -> bool:
    """A message a person posted (not a bot, not the app, not a join or other system message)."""
    return (
        event.get("subtype") in PERSON_SUBTYPES
        and not event.get("bot_id")
        and bool(event.get("user"))
        and bool(event.get("ts"))
    )


def ts_to_datetime(ts: str) -> datetime:
    """A Slack ts ("1700000000.000100") as an aware UTC datetime."""
    return datetime.fromtimestamp(float(ts), tz=UTC)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def record(
    session: Session,
    msg: MessageIn,
    customer_id: int,
    path: str,
    now: datetime,
    recorded_by: str | None = None,
    kind: str | None = None,
    note: str | None = None,
    milestone_id: int | None = None,
    posted_at: datetime | None = None,
) -> int | None:
    """Store one signal; None when this message is already a signal for this customer."""
    return repo.insert_signal(
        session, values=signal_row(msg, customer_id, path, now, recorded_by, kind, note, milestone_id, posted_at)
    )


def signal_row(
    msg: MessageIn,
    customer_id: int,
    path: str,
    now: datetime,
    recorded_by: str | None = None,
    kind: str | None = None,
    note: str | None = None,
    milestone_id: int | None = None,
    posted_at: datetime | None = None,
) -> dict[str, Any]:
    """The row of one signal: the text clipped, kind and sentiment classified."""
    text = _clip(msg.text, MAX_SIGNAL_TEXT)
    c = classify(text + (" " + note if note else ""), msg.team_id)
    return dict(
        team_id=msg.team_id,
        channel_id=msg.channel_id,
        message_ts=msg.ts,
        thread_ts=msg.thread_ts,
        user_id=msg.user_id,
        author_name=msg.author_name,
        text=text,
        note=_clip(note, MAX_NOTE) if note else None,
        permalink=msg.permalink,
        customer_id=customer_id,
        milestone_id=milestone_id,
        capture_path=path,
        kind=kind if kind in KINDS else c.kind,
        sentiment=c.sentiment,
        is_private=msg.is_private,
        # routing stores an external author's message only for the customer whose organisation they are (or the
        # linked customer while it has none on record): such a signal is the customer's own words
        author_team_id=msg.author_team_id,
        first_hand=msg.external,
        event_id=msg.event_id,
        recorded_by=recorded_by,
        posted_at=posted_at or msg.posted_at,
        recorded_at=now,
    )


def customers_for_channel_message(session: Session, msg: MessageIn) -> tuple[str, list[int]] | None:
    """Which customers a channel message is about: (path, ids), or None when the channel is not ours."""
    link = repo.channel_link(session, team_id=msg.team_id, channel_id=msg.channel_id)
    if link is None:
        return None
    if link.kind == "customer" and link.customer_id is not None:
        return PATH_CHANNEL, [link.customer_id]
    return PATH_WATCH, customers.mentioned(repo.name_index(session, team_id=msg.team_id), msg.text)


def capture_channel_message(
    session: Session,
    msg: MessageIn,
    now: datetime,
    path_override: str | None = None,
    route: tuple[str, list[int]] | None = None,
) -> list[int]:
    """A message posted in a linked or watch channel -> its signals (ids of the new ones)."""
    if not msg.text.strip():
        return []
    found = route or customers_for_channel_message(session, msg)
    if found is None:
        return []
    path, ids = found
    new = [
        repo.insert_signal(session, values=row) for row in channel_message_rows(msg, (path_override or path, ids), now)
    ]
    return [i for i in new if i is not None]


def channel_message_rows(msg: MessageIn, route: tuple[str, list[int]], now: datetime) -> list[dict[str, Any]]:
    """The signal rows of a routed channel message, for the group-commit writer (see storage.writer)."""
    if not msg.text.strip():
        return []
    path, ids = route
    return [signal_row(msg, cid, path, now) for cid in ids]


def customers_for_any_message(session: Session, msg: MessageIn) -> list[int]:
    """The customers a message anywhere is about: its channel's link first, then names in the text."""
    found = customers_for_channel_message(session, msg)
    if found is not None and found[1]:
        return found[1]
    return customers.mentioned(repo.name_index(session, team_id=msg.team_id), msg.text)


def edit_message(
    session: Session, msg: MessageIn, route: tuple[str, list[int]] | None, edited_at: datetime, now: datetime
) -> int:
    """An edited message: its signals get the new text and classification (a person's correction stays);
    in a watch channel it is re-attributed to the customers it now names. Returns the signals it touches."""
    text = _clip(msg.text, MAX_SIGNAL_TEXT)
    c = classify(text, msg.team_id)
    existing = list(repo.signals_for_message(session, team_id=msg.team_id, channel_id=msg.channel_id, ts=msg.ts))
    if route is not None and route[0] == PATH_WATCH:
        named = set(route[1])
        gone = [sig.id for sig in existing if sig.capture_path == PATH_WATCH and sig.customer_id not in named]
        repo.delete_signals(session, team_id=msg.team_id, ids=gone)
        have = {sig.customer_id for sig in existing}
        for cid in route[1]:
            if cid not in have and text.strip():
                repo.insert_signal(session, values=signal_row(msg, cid, PATH_WATCH, now))
    elif route is not None and not existing and text.strip():
        for row in channel_message_rows(msg, route, now):
            repo.insert_signal(session, values=row)
    return repo.update_message_text(
        session,
        team_id=msg.team_id,
        channel_id=msg.channel_id,
        ts=msg.ts,
        text=text,
        kind=c.kind,
        sentiment=c.sentiment,
        edited_at=edited_at,
    )


def delete_message(session: Session, team_id: str, channel_id: str, ts: str, now: datetime) -> int:
    """A deleted message marks its signals deleted and erases their text."""
    return repo.mark_message_deleted(session, team_id=team_id, channel_id=channel_id, ts=ts, now=now)


def reaction_capture(session: Session, msg: MessageIn, reactor: str, now: datetime) -> list[Effect]:
    """The capture emoji on a message: record it for the customers it is about, or ask which one."""
    ids = customers_for_any_message(session, msg)
    if not ids:
        everyone = repo.list_customers(session, team_id=msg.team_id)
        if not everyone:
            return [
                Ephemeral(
                    msg.channel_id,
                    reactor,
                    "No customers yet, so I can't record this message. "
                    "Add one with `/loop customer add <name>` and react again.",
                )
            ]
        # the answer is recorded from the message kept here, not from the message read again from Slack
        key = keep_message(session, msg, now)
        return [
            Ephemeral(msg.channel_id, reactor, "Which customer is this message about?", blocks=customer_picker(key))
        ]
    names = []
    new = 0
    for cid in ids:
        if record(session, msg, cid, PATH_REACTION, now, recorded_by=reactor) is not None:
            new += 1
        c = repo.customer_by_id(session, team_id=msg.team_id, customer_id=cid)
        names.append(f"*{safe(c.name)}*" if c else "?")
    what = "Recorded as a signal for " if new else "Already a signal for "
    return [Ephemeral(msg.channel_id, reactor, ":memo: " + what + ", ".join(names) + ".")]


def keep_message(session: Session, msg: MessageIn, now: datetime) -> str:
    """Keep a message a question or a modal is about (its text as people read it); the key to find it again."""
    key = uuid.uuid4().hex
    slack_state.save_draft(
        session,
        team_id=msg.team_id,
        draft_key=key,
        channel_id=msg.channel_id,
        message_ts=msg.ts,
        thread_ts=msg.thread_ts,
        user_id=msg.user_id,
        text=_clip(msg.text, MAX_SIGNAL_TEXT),
        now=now,
    )
    return key


def kept_message(session: Session, team_id: str, key: str) -> tuple[str, dict[str, str | None]] | None:
    """(channel, message) of a kept message: ts, user, thread_ts and its text; None when it is gone."""
    d = slack_state.find_draft(session, team_id=team_id, draft_key=key)
    if d is None:
        return None
    return d.channel_id, {"ts": d.message_ts, "user": d.user_id, "thread_ts": d.thread_ts, "text": d.text}


def modal_metadata(session: Session, msg: MessageIn, now: datetime) -> str:
    """What the capture modal carries: the message itself, or the key of its kept copy when it is too long."""
    meta = json.dumps({"c": msg.channel_id, "ts": msg.ts, "t": msg.thread_ts, "u": msg.user_id, "x": msg.text})
    if len(meta) <= MAX_METADATA:
        return meta
    return json.dumps({"c": msg.channel_id, "ts": msg.ts, "k": keep_message(session, msg, now)})


def modal_message(session: Session, team_id: str, meta: dict[str, Any]) -> tuple[str, dict[str, str | None]] | None:
    """(channel, message) a capture modal is about, from its metadata; None when it cannot be known."""
    if meta.get("k"):
        return kept_message(session, team_id, str(meta["k"]))
    if "x" in meta and meta.get("c") and meta.get("ts"):
        return meta["c"], {"ts": meta["ts"], "user": meta.get("u"), "thread_ts": meta.get("t"), "text": meta["x"]}
    return None


def privacy_known(session: Session, team_id: str, channel_id: str, ts: str, private: bool) -> int:
    """What Slack said of the channel's privacy, for a message stored before the app knew (taken as private)."""
    return slack_state.set_message_private(session, team_id=team_id, channel_id=channel_id, ts=ts, private=private)


def shortcut_capture(
    session: Session,
    msg: MessageIn,
    customer_id: int,
    milestone_id: int | None,
    kind: str | None,
    note: str | None,
    user: str,
    now: datetime,
) -> str | None:
    """The shortcut's modal submitted: record the message, or refine the signal it already is.

    Returns the customer's name, or None when the customer (or a milestone not theirs) is gone.
    """
    c = repo.customer_by_id(session, team_id=msg.team_id, customer_id=customer_id)
    m = repo.milestone_by_id(session, team_id=msg.team_id, milestone_id=milestone_id) if milestone_id else None
    if c is None or (milestone_id and (m is None or m.customer_id != c.id)):
        return None
    chosen = kind if kind in KINDS else None
    new_id = record(
        session,
        msg,
        c.id,
        PATH_SHORTCUT,
        now,
        recorded_by=user,
        kind=chosen,
        note=note,
        milestone_id=m.id if m else None,
    )
    if new_id is None:
        # already a signal (say, from the linked channel): the shortcut refines it
        for sig in repo.signals_for_message(session, team_id=msg.team_id, channel_id=msg.channel_id, ts=msg.ts):
            if sig.customer_id == c.id:
                if chosen:
                    sig.kind, sig.corrected_by, sig.corrected_at, sig.classified_by = chosen, user, now, "person"
                sig.note = note or sig.note
                sig.milestone_id = m.id if m else sig.milestone_id
    elif chosen:
        repo.mark_corrected(session, team_id=msg.team_id, signal_id=new_id, user=user, now=now)
    return c.name


def picked_customer(session: Session, msg: MessageIn, customer_id: int, user: str, now: datetime) -> str:
    """The reaction's customer picker answered: record the message for that customer."""
    c = repo.customer_by_id(session, team_id=msg.team_id, customer_id=customer_id)
    if c is None:
        return "That customer no longer exists; nothing was recorded."
    new = record(session, msg, c.id, PATH_REACTION, now, recorded_by=user)
    return f":memo: {'Recorded as a signal' if new else 'Already a signal'} for *{safe(c.name)}*."


def stored_message(session: Session, team_id: str, channel_id: str, ts: str) -> MessageIn | None:
    """The message as a signal already holds it (any customer's), so a reaction on it needs no Slack read."""
    sig = next(
        (
            x
            for x in repo.signals_for_message(session, team_id=team_id, channel_id=channel_id, ts=ts)
            if x.deleted_at is None
        ),
        None,
    )
    if sig is None:
        return None
    return MessageIn(
        team_id=team_id,
        channel_id=channel_id,
        ts=ts,
        text=sig.text,
        user_id=sig.user_id,
        thread_ts=sig.thread_ts,
        is_private=sig.is_private,
        author_name=sig.author_name,
        permalink=sig.permalink,
    )
