"""Modals and pickers: the capture modal, expected impact, a learning, a milestone from the success gap."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from bot.cards import CustomerCard, MilestoneCard
from bot.safety import quote

# a customer is picked from a search, not a list: a static select shows at most 100 options and a team has more
# customers (https://docs.slack.dev/reference/block-kit/block-elements/select-menu-element#external_select);
# Slack asks the app's options listener (handlers.actions.capture) as the person types. 0: the first 100 by
# name show as soon as the menu opens, so a small team never has to type
CUSTOMER_MIN_QUERY = 0
MAX_OPTIONS = 100


def customer_option(customer_id: int, name: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": name[:75]}, "value": str(customer_id)}


def customer_options(found: Sequence[tuple[int, str]]) -> list[dict[str, Any]]:
    """The options listener's answer: (id, name) pairs as options, at most the 100 Slack shows."""
    return [customer_option(cid, name) for cid, name in found[:MAX_OPTIONS]]


def customer_select(action_id: str, initial: CustomerCard | None = None, multi: bool = False) -> dict[str, Any]:
    """A customer picker searched through the options listener; `initial` shown already chosen."""
    el: dict[str, Any] = {
        "type": "multi_external_select" if multi else "external_select",
        "action_id": action_id,
        "placeholder": {"type": "plain_text", "text": "Type a customer's name"},
        "min_query_length": CUSTOMER_MIN_QUERY,
    }
    if initial is not None:
        el["initial_option"] = customer_option(initial.id, initial.name)
    return el


def customer_picker(key: str) -> list[dict[str, Any]]:
    """Ephemeral question after the capture reaction when no customer could be found."""
    return [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "I couldn't tell which customer this message is about. Pick one to record it:",
            },
        },
        {
            "type": "actions",
            "block_id": f"capture:{key}",
            "elements": [customer_select("capture_pick_customer")],
        },
    ]


KIND_LABELS = {
    "auto": "Decide from the text",
    "problem": "Problem",
    "request": "Request",
    "question": "Question",
    "praise": "Praise",
    "churn-risk": "Churn risk",
    "other": "Other",
}


def capture_modal(customer: CustomerCard | None, metadata: str, message_preview: str) -> dict[str, Any]:
    """The shortcut's modal: customer (prefilled when known), milestone, kind, optional note."""
    cust_el = customer_select("customer", customer)
    blocks: list[dict[str, Any]] = [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "> " + quote(message_preview, 280)}]},
        {
            "type": "input",
            "block_id": "customer",
            "dispatch_action": True,
            "label": {"type": "plain_text", "text": "Customer"},
            "element": cust_el,
        },
    ]
    ms_opts = [
        {"text": {"type": "plain_text", "text": f"{m.position}. {m.title}"[:75]}, "value": str(m.id)}
        for m in (customer.milestones if customer else [])
    ][:100]
    if ms_opts:
        blocks.append(
            {
                "type": "input",
                "block_id": "milestone",
                "optional": True,
                "label": {"type": "plain_text", "text": "Milestone it is about"},
                "hint": {
                    "type": "plain_text",
                    "text": "Leave empty when no milestone covers it: it counts toward the success gap.",
                },
                "element": {
                    "type": "static_select",
                    "action_id": "milestone",
                    "placeholder": {"type": "plain_text", "text": "None"},
                    "options": ms_opts,
                },
            }
        )
    kinds = [{"text": {"type": "plain_text", "text": v}, "value": k} for k, v in KIND_LABELS.items()]
    blocks += [
        {
            "type": "input",
            "block_id": "kind",
            "label": {"type": "plain_text", "text": "Kind"},
            "element": {"type": "static_select", "action_id": "kind", "options": kinds, "initial_option": kinds[0]},
        },
        {
            "type": "input",
            "block_id": "note",
            "optional": True,
            "label": {"type": "plain_text", "text": "Note"},
            "element": {"type": "plain_text_input", "action_id": "note", "multiline": True, "max_length": 1000},
        },
    ]
    return {
        "type": "modal",
        "callback_id": "capture_modal",
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "Customer signal"},
        "submit": {"type": "plain_text", "text": "Record"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def impact_modal(m: MilestoneCard) -> dict[str, Any]:
    el: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": "impact",
        "multiline": True,
        "max_length": 500,
        "placeholder": {"type": "plain_text", "text": "e.g. depot managers stop emailing HR"},
    }
    if m.expected_impact:
        el["initial_value"] = m.expected_impact
    return {
        "type": "modal",
        "callback_id": "impact_modal",
        "private_metadata": str(m.id),
        "title": {"type": "plain_text", "text": "Expected impact"},
        "submit": {"type": "plain_text", "text": "Save"},
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{m.position}. {quote(m.title)}*"}},
            {
                "type": "input",
                "block_id": "impact",
                "element": el,
                "label": {"type": "plain_text", "text": "What should the customer notice?"},
            },
        ],
    }


def learning_modal(
    customers: Sequence[CustomerCard],
    metadata: str,
    user: str,
    review_on: date,
    text: str | None = None,
    decision: str | None = None,
    selected_customers: Sequence[int] = (),
    title: str = "Add a learning",
) -> dict[str, Any]:
    """What are we learning, which decision it affects, for which customers and milestones, who, by when."""

    def plain(
        block: str, label: str, optional: bool, initial: str | None, multiline: bool, max_len: int, placeholder: str
    ) -> dict[str, Any]:
        el: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": block,
            "multiline": multiline,
            "max_length": max_len,
            "placeholder": {"type": "plain_text", "text": placeholder},
        }
        if initial:
            el["initial_value"] = initial[:max_len]
        return {
            "type": "input",
            "block_id": block,
            "optional": optional,
            "element": el,
            "label": {"type": "plain_text", "text": label},
        }

    blocks: list[dict[str, Any]] = [
        plain(
            "learning",
            "What are we learning?",
            False,
            text,
            True,
            2000,
            "e.g. double texts hurt trust more than a missing WhatsApp channel",
        ),
        plain(
            "decision",
            "Which decision does it affect?",
            True,
            decision,
            False,
            500,
            "e.g. ship the SMS fix before adding WhatsApp",
        ),
    ]
    if customers:
        el = customer_select("customers", multi=True)
        el["placeholder"] = {"type": "plain_text", "text": "Customers"}
        chosen = [customer_option(c.id, c.name) for c in customers if c.id in set(selected_customers)]
        if chosen:
            el["initial_options"] = chosen
        blocks.append(
            {
                "type": "input",
                "block_id": "customers",
                "optional": True,
                "element": el,
                "label": {"type": "plain_text", "text": "Customers"},
            }
        )
        ms_opts = [
            {
                "text": {"type": "plain_text", "text": f"{c.name[:30]} · {m.position}. {m.title}"[:75]},
                "value": str(m.id),
            }
            for c in sorted(customers, key=lambda c: c.name_key)
            for m in c.milestones
        ][:100]
        if ms_opts:
            blocks.append(
                {
                    "type": "input",
                    "block_id": "milestones",
                    "optional": True,
                    "label": {"type": "plain_text", "text": "Milestones"},
                    "element": {
                        "type": "multi_static_select",
                        "action_id": "milestones",
                        "options": ms_opts,
                        "placeholder": {"type": "plain_text", "text": "Milestones"},
                    },
                }
            )
    blocks += [
        {
            "type": "input",
            "block_id": "owner",
            "optional": True,
            "label": {"type": "plain_text", "text": "Owner"},
            "element": {"type": "users_select", "action_id": "owner", "initial_user": user},
        },
        {
            "type": "input",
            "block_id": "review",
            "optional": True,
            "label": {"type": "plain_text", "text": "Review the decision on"},
            "element": {"type": "datepicker", "action_id": "review", "initial_date": review_on.isoformat()},
        },
    ]
    return {
        "type": "modal",
        "callback_id": "learning_modal",
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": title},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def milestone_add_modal(customer: CustomerCard, title: str, metadata: str) -> dict[str, Any]:
    """Add a milestone, prefilled (from a success-gap theme)."""
    return {
        "type": "modal",
        "callback_id": "milestone_add_modal",
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "Add a milestone"},
        "submit": {"type": "plain_text", "text": "Add"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*{quote(customer.name)}* — a step toward their outcome, in their words.",
                },
            },
            {
                "type": "input",
                "block_id": "title",
                "label": {"type": "plain_text", "text": "Milestone"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "title",
                    "initial_value": title[:200],
                    "max_length": 200,
                },
            },
            {
                "type": "input",
                "block_id": "due",
                "optional": True,
                "label": {"type": "plain_text", "text": "Due"},
                "element": {"type": "datepicker", "action_id": "due"},
            },
            {
                "type": "input",
                "block_id": "impact",
                "optional": True,
                "label": {"type": "plain_text", "text": "What will the customer notice?"},
                "element": {"type": "plain_text_input", "action_id": "impact", "max_length": 500},
            },
        ],
    }


def changed_to_modal(metadata: str) -> dict[str, Any]:
    """A decision marked Changed: what did it change to?"""
    return {
        "type": "modal",
        "callback_id": "decision_changed_modal",
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "The decision changed"},
        "submit": {"type": "plain_text", "text": "Save"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": "changed_to",
                "label": {"type": "plain_text", "text": "What did it change to?"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "changed_to",
                    "multiline": True,
                    "max_length": 500,
                    "placeholder": {
                        "type": "plain_text",
                        "text": "e.g. ship WhatsApp first for the two clinics that asked",
                    },
                },
            }
        ],
    }


def kinds_modal(customer: str, rows: Sequence[Any], metadata: str) -> dict[str, Any]:
    """One select per signal, set to its kind: a person corrects what the rules (or the model) got wrong."""
    from bot.kinds import KIND_LABEL, KINDS

    options = [{"text": {"type": "plain_text", "text": KIND_LABEL[k]}, "value": k} for k in KINDS]
    blocks: list[dict[str, Any]] = [
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"*{quote(customer)}* — set each signal's kind as you read it. Your choice is kept: "
                    "the rules and the model never change it back.",
                }
            ],
        }
    ]
    for r in rows:
        current = next(o for o in options if o["value"] == r.kind)
        blocks.append(
            {
                "type": "input",
                "block_id": f"kind:{r.id}",
                "optional": True,
                "label": {"type": "plain_text", "text": (" ".join(r.text.split()))[:150] or "(no text)"},
                "element": {
                    "type": "static_select",
                    "action_id": "kind",
                    "options": options,
                    "initial_option": current,
                },
            }
        )
    if not rows:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "No signals of that week to show."}})
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": "kinds_modal",
        "private_metadata": metadata,
        "title": {"type": "plain_text", "text": "Correct kinds"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks[:100],
    }
    if rows:
        view["submit"] = {"type": "plain_text", "text": "Save"}
    return view


def rename_modal(m: MilestoneCard, suggestion: str) -> dict[str, Any]:
    """Rename a milestone, starting from the framing check's suggested rewrite."""
    return {
        "type": "modal",
        "callback_id": "rename_modal",
        "private_metadata": str(m.id),
        "title": {"type": "plain_text", "text": "Rename the milestone"},
        "submit": {"type": "plain_text", "text": "Rename"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"Now: *{m.position}. {quote(m.title)}*\n"
                    "Say what the customer can do, and what stops hurting.",
                },
            },
            {
                "type": "input",
                "block_id": "title",
                "label": {"type": "plain_text", "text": "New title"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "title",
                    "initial_value": suggestion[:200],
                    "max_length": 200,
                },
            },
        ],
    }


IMPORT_HINT = (
    "Columns: name, segment, aliases (a;b), outcome, experience, owner (U… or e-mail), channel (C… or "
    "#name), milestones (title due 2026-12-31 or 31 Dec 2026; …). The first line names the columns."
)
RELINK_LABEL = "Move links that belong to another customer or to a watch channel"


def import_modal(error: str | None = None) -> dict[str, Any]:
    """Paste a CSV of customers: the next step shows what would change, before anything is written."""
    blocks: list[dict[str, Any]] = [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": IMPORT_HINT}]},
        {
            "type": "input",
            "block_id": "csv",
            "label": {"type": "plain_text", "text": "Customers (CSV)"},
            "element": {
                "type": "plain_text_input",
                "action_id": "csv",
                "multiline": True,
                "max_length": 2900,
                "placeholder": {"type": "plain_text", "text": "name,segment,owner\nMarlow Dental,smb,U0123"},
            },
        },
        {
            "type": "input",
            "block_id": "relink",
            "optional": True,
            "label": {"type": "plain_text", "text": "Links"},
            "element": {
                "type": "checkboxes",
                "action_id": "relink",
                "options": [{"text": {"type": "plain_text", "text": RELINK_LABEL}, "value": "relink"}],
            },
        },
    ]
    if error:
        blocks.insert(0, {"type": "section", "text": {"type": "mrkdwn", "text": f":warning: {error}"}})
    return {
        "type": "modal",
        "callback_id": "import_modal",
        "title": {"type": "plain_text", "text": "Import customers"},
        "submit": {"type": "plain_text", "text": "Check"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }


def import_summary_modal(
    summary: str, problems: list[str], csv_text: str, changes: Sequence[str] = (), relink: bool = False
) -> dict[str, Any]:
    """What the import would do, row by row; submitting applies exactly that (the CSV and the tick travel along)."""
    parts = [f"*{summary}*" + ("\n_Links may be moved (ticked)._" if relink else "")]
    if changes:
        parts.append("*What would change:*")
        parts += [f"• {quote(c, 300)}" for c in changes]
    if problems:
        parts.append("*Left out:*")
        parts += [f"• {quote(p, 300)}" for p in problems]
    blocks: list[dict[str, Any]] = []
    chunk = ""
    for i, part in enumerate(parts):
        if len(chunk) + len(part) + 1 > 2900:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
            chunk = ""
            if len(blocks) == 45:
                blocks.append(
                    {"type": "context", "elements": [{"type": "mrkdwn", "text": f"…and {len(parts) - i} more lines"}]}
                )
                break
        chunk += ("\n" if chunk else "") + part
    else:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": chunk}})
    return {
        "type": "modal",
        "callback_id": "import_apply",
        "private_metadata": ("R" if relink else "-") + csv_text[:2990],
        "title": {"type": "plain_text", "text": "Import customers"},
        "submit": {"type": "plain_text", "text": "Apply"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": blocks,
    }
