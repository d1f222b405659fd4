"""The house's rules, checked on the code itself: floors point one way, and Slack is reached from one place."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imports(folder: str) -> dict[str, set[str]]:
    """Module path -> the top-level modules it imports (anywhere in it, TYPE_CHECKING included)."""
    out: dict[str, set[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found.add(node.module)
        out[str(path.relative_to(ROOT))] = found
    return out


def test_no_handler_imports_storage() -> None:
    bad = {m: sorted(i for i in found if i.split(".")[0] == "storage") for m, found in imports("handlers").items()}
    assert {m: i for m, i in bad.items() if i} == {}


def test_storage_imports_nothing_of_the_floors_above() -> None:
    bad = {
        m: sorted(i for i in found if i.split(".")[0] in ("bot", "handlers", "slack_bolt"))
        for m, found in imports("storage").items()
    }
    assert {m: i for m, i in bad.items() if i} == {}


def test_the_domain_imports_no_bolt_no_handlers_and_no_entry_point() -> None:
    bad = {
        m: sorted(i for i in found if i.split(".")[0] in ("slack_bolt", "handlers", "entry"))
        for m, found in imports("bot").items()
    }
    assert {m: i for m, i in bad.items() if i} == {}


def test_handlers_never_reach_up_to_the_entry_floor() -> None:
    bad = {m: sorted(i for i in found if i.split(".")[0] == "entry") for m, found in imports("handlers").items()}
    assert {m: i for m, i in bad.items() if i} == {}


def write_calls(folder: str) -> dict[str, list[str]]:
    """Module path -> the Web API write methods it calls (client.chat_postMessage(...) and the like)."""
    from bot.slack_out import WRITE_METHODS

    out: dict[str, list[str]] = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        found = sorted(
            f"{n.func.attr}:{n.lineno}"
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in WRITE_METHODS
        )
        if found:
            out[str(path.relative_to(ROOT))] = found
    return out


def test_only_the_executor_writes_to_slack() -> None:
    """One way out to Slack: every post, ephemeral, DM, edit, file, modal and App Home goes through bot/slack_out.py,
    which paces, waits out 429s and logs what Slack refused once."""
    calls: dict[str, list[str]] = {}
    for floor in ("entry", "handlers", "bot", "storage"):
        calls |= write_calls(floor)
    calls.pop("bot/slack_out.py")  # the executor itself
    assert calls == {}


def test_the_write_check_sees_a_write() -> None:
    """The check above can fail: it finds the executor's own calls."""
    found = write_calls("bot")["bot/slack_out.py"]
    assert {f.split(":")[0] for f in found} >= {"chat_postMessage", "chat_postEphemeral", "views_publish", "views_open"}


QUERY_BUILDERS = {"select", "update", "insert", "delete", "text", "func", "and_", "or_", "exists"}


def test_every_query_is_in_storage() -> None:
    """bot/, handlers/ and entry/ ask storage/ (storage/repo by area); none builds SQL itself."""
    bad: dict[str, list[str]] = {}
    for floor in ("bot", "handlers", "entry"):
        for path in sorted((ROOT / floor).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
                    names = sorted(a.name for a in node.names if a.name in QUERY_BUILDERS)
                    if names:
                        bad[str(path.relative_to(ROOT))] = names
    assert bad == {}
