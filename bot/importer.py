"""Backfill signals from a standard Slack workspace export (zip), with the live capture rules."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from bot import capture
from bot.safety import unescape
from storage import repo


class ImportError_(ValueError):
    """The file is not a Slack export this command can read; the message says why."""


@dataclass
class ImportCounts:
    channels: int = 0
    channels_captured: int = 0
    messages: int = 0
    signals_added: int = 0
    already_present: int = 0


def _load(z: zipfile.ZipFile, name: str) -> list[dict[str, Any]]:
    try:
        data = json.loads(z.read(name))
    except KeyError:
        return []
    except ValueError as e:
        raise ImportError_(f"{name} in the export is not valid JSON ({e}).") from None
    return data if isinstance(data, list) else []


def read_export(path: str) -> tuple[zipfile.ZipFile, list[dict[str, Any]], dict[str, dict[str, Any]]]:
    try:
        z = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise ImportError_(f"No file at {path}: give the path of the export zip.") from None
    except zipfile.BadZipFile:
        raise ImportError_(
            f"{path} is not a zip file: download the export from Slack "
            "(Workspace settings → Import/Export Data) and pass the .zip."
        ) from None
    names = set(z.namelist())
    if "channels.json" not in names and "groups.json" not in names:
        raise ImportError_(f"{path} has no channels.json: is it a Slack workspace export?")
    chans = [dict(c, _private=False) for c in _load(z, "channels.json")]
    chans += [dict(c, _private=True) for c in _load(z, "groups.json")]
    users = {u["id"]: u for u in _load(z, "users.json") if "id" in u}
    return z, chans, users


def _messages(z: zipfile.ZipFile, folder: str) -> Iterator[dict[str, Any]]:
    days = sorted(n for n in z.namelist() if PurePosixPath(n).parent.name == folder and n.endswith(".json"))
    for day in days:
        yield from _load(z, day)


def count_messages(z: zipfile.ZipFile, chans: list[dict[str, Any]]) -> int:
    return sum(1 for c in chans for _ in _messages(z, c.get("name", "")))


def import_export(
    path: str,
    team_id: str,
    sf: sessionmaker[Session],
    now: Callable[[], datetime],
    progress: Callable[[int], None] = lambda n: None,
) -> ImportCounts:
    """Replay the export's messages in linked and watch channels; a second run adds nothing."""
    z, chans, users = read_export(path)
    counts = ImportCounts(channels=len(chans))
    with z:
        for ch in chans:
            cid, folder = ch.get("id", ""), ch.get("name", "")
            with sf() as s:
                linked = repo.channel_link(s, team_id=team_id, channel_id=cid) is not None
            msgs = list(_messages(z, folder))
            if not linked:
                progress(len(msgs))
                continue
            counts.channels_captured += 1
            with sf.begin() as s:
                for m in msgs:
                    progress(1)
                    if not capture.is_person_message(m):
                        continue
                    counts.messages += 1
                    u = users.get(m.get("user", ""), {})
                    prof = u.get("profile") or {}
                    msg = capture.MessageIn(
                        team_id=team_id,
                        channel_id=cid,
                        ts=m["ts"],
                        text=unescape(m.get("text") or ""),
                        user_id=m.get("user"),
                        thread_ts=m.get("thread_ts"),
                        is_private=ch["_private"],
                        author_name=prof.get("display_name") or prof.get("real_name") or u.get("name"),
                    )
                    found = capture.customers_for_channel_message(s, msg)
                    wanted = len(found[1]) if found else 0
                    added = len(capture.capture_channel_message(s, msg, now(), path_override=capture.PATH_IMPORT))
                    counts.signals_added += added
                    counts.already_present += wanted - added
    return counts
