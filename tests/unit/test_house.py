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
