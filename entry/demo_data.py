"""The bundled sample team used by `signalloop demo`: customers, channels, six weeks of Slack."""

from __future__ import annotations

import random
from dataclasses import dataclass

TEAM = "T0DEMO"
USERS = {"U01PRIYA": "Priya", "U02MARCO": "Marco", "U03SAM": "Sam", "U04LEE": "Lee", "U05ANA": "Ana"}
CHANNELS = {  # id: (name, private)
    "C01TALL": ("cs-tallwood", False),
    "C02RIVER": ("cs-riverside", False),
    "C03LAKE": ("cs-lakeview", False),
    "C04NORTH": ("cs-northwind", False),
    "C05FEED": ("customer-feedback", False),
    "C06LEADS": ("cs-leads", False),
    "G07ESC": ("escalations", True),
}


@dataclass(frozen=True)
class DemoCustomer:
    name: str
    segment: str
    alias: str | None
    outcome: str
    channel: str | None


CUSTOMERS = [
    DemoCustomer(
        "Tallwood Dental Group",
        "multi-site",
        "Tallwood",
        "fill cancelled chair time across 6 clinics the same day | without front-desk staff phoning "
        "the waiting list by hand",
        "C01TALL",
    ),
    DemoCustomer(
        "Riverside Physio",
        "multi-site",
        "Riverside",
        "therapists run their own schedules across 3 sites | without calling the front desk",
        "C02RIVER",
    ),
    DemoCustomer(
        "Lakeview Clinics",
        "multi-site",
        "Lakeview",
        "one waiting list across 4 clinics | without double bookings",
        "C03LAKE",
    ),
    DemoCustomer(
        "Northwind Bakery",
        "smb",
        "Northwind",
        "pay 40 staff correctly every fortnight | without the owner fixing payroll at midnight",
        "C04NORTH",
    ),
    DemoCustomer(
        "Harbor Legal", "smb", "Harbor", "close the month in two days | without the accountant chasing timesheets", None
    ),
]

# (customer, kind of words) -> sample messages; each is posted in the customer's channel, or in the
# shared feedback channel naming the customer.
PHRASES: dict[str, list[str]] = {
    "Tallwood Dental Group": [
        "Patients at Elm Street got two reminders again",
        "Reminder texts still go out twice at two clinics",
        "front desk still spends mornings calling people back",
        "Can the waiting list show which hygienist they prefer?",
        "The new booking page cut our no-shows noticeably",
        "Shared waiting list is working well at the Harbour Road clinic",
        "Could you add WhatsApp reminders? Patients ask for it",
        "Cancelled slots at Elm Street were not offered to anyone yesterday",
        "Hygienist preferences would save us a lot of calls",
        "Thanks for the quick fix on the calendar sync",
        "The waiting list offers went out but two patients got the same slot",
        "Our managers love seeing all six clinics in one calendar",
    ],
    "Riverside Physio": [
        "Therapists can't see their Friday schedule on mobile",
        "The mobile app is slow when switching sites",
        "Great session with the therapists last week, they are keen",
        "Is there a way to block lunch breaks across all sites?",
    ],
    "Lakeview Clinics": [
        "Double booking happened again at the north clinic",
        "We need a way to merge two waiting lists",
        "The import of the old patient list is missing phone numbers",
        "Can we export the waiting list to Excel?",
        "Front desk says the new screen is confusing",
        "Love how fast the calendar loads now",
        "Another double booking this morning, patients were annoyed",
        "Could the waiting list prioritise urgent cases?",
    ],
    "Northwind Bakery": [
        "Payroll run got stuck at the overtime step",
        "First payroll without fixes, the owner is delighted",
        "Can staff request leave from their phones?",
        "The holiday pay calculation looks wrong for part-timers",
        "Thanks, the payslips look great",
        "If payroll breaks again before Christmas we will look at alternatives",
    ],
    "Harbor Legal": [
        "Harbor Legal asked whether timesheets can be approved in bulk",
        "Harbor Legal says month end was smooth for the first time",
        "Harbor Legal: the invoice export is missing matter numbers",
        "Harbor Legal would love a reminder for unsubmitted timesheets",
    ],
}

# how many messages each customer sends per week, oldest week first (6 weeks; the last is this week)
WEEKLY = {
    "Tallwood Dental Group": [5, 6, 7, 8, 9, 12],
    "Riverside Physio": [4, 3, 2, 0, 0, 0],
    "Lakeview Clinics": [6, 6, 7, 7, 8, 9],
    "Northwind Bakery": [4, 4, 5, 5, 5, 6],
    "Harbor Legal": [3, 3, 4, 4, 4, 5],
}

# milestone moves: (customer, milestone number, action, week index 0..5, weekday, reason)
MOVES = [
    ("Tallwood Dental Group", 1, "start", 0, 0, None),
    ("Tallwood Dental Group", 1, "done", 3, 1, None),
    ("Tallwood Dental Group", 2, "start", 3, 2, None),
    ("Tallwood Dental Group", 2, "risk", 5, 1, "reminder texts still go out twice at two clinics"),
    ("Riverside Physio", 1, "start", 0, 1, None),
    ("Riverside Physio", 1, "done", 1, 3, None),
    ("Riverside Physio", 2, "start", 1, 4, None),
    ("Lakeview Clinics", 1, "start", 0, 2, None),
    ("Lakeview Clinics", 1, "done", 2, 0, None),
    ("Lakeview Clinics", 2, "start", 2, 1, None),
    ("Northwind Bakery", 1, "start", 0, 0, None),
    ("Northwind Bakery", 1, "done", 5, 1, None),
    ("Northwind Bakery", 2, "start", 5, 2, None),
    ("Harbor Legal", 1, "start", 1, 0, None),
]

EXTRA_MILESTONES = [
    ("Tallwood Dental Group", "Onboarding training complete"),
    ("Lakeview Clinics", "Front desks run one waiting list without double bookings"),
]

# learnings recorded in answer to last week's digest, one with a decision to review this week
LEARNINGS = [
    (
        "C06LEADS",
        "U01PRIYA",
        "Double texts hurt trust more than missing WhatsApp",
        "Ship the SMS reminder fix before adding WhatsApp",
        ["Tallwood Dental Group"],
    ),
    (
        "C06LEADS",
        "U02MARCO",
        "Payroll stability decides Northwind's renewal",
        "Put a payroll engineer on Northwind's overtime bug this sprint",
        ["Northwind Bakery"],
    ),
]


# Slack Connect: a channel shared with Tallwood's own organisation. Its people's words are first-hand signals
# (shown first, marked 🗣); the team's replies there stay reports; one question waits for an answer.
SHARED_CHANNEL = ("C08TALLX", "ext-tallwood")
SHARED_ORG = ("T0TALLWD", "Tallwood Dental Group Ltd", "tallwooddental.com")
EXTERNAL_USERS = {"U90DANA": "Dana", "U91EVE": "Eve"}  # Tallwood's practice managers, in their own organisation
# (week index, minute offset in week, user, text)
SHARED_MESSAGES = [
    (5, 540, "U90DANA", "Patients at Elm Street got two reminders again this morning, they are confused"),
    (5, 610, "U91EVE", "Could you add WhatsApp reminders? Half our patients never read texts"),
    (5, 700, "U01PRIYA", "Thanks Eve, the double reminders fix ships this week"),
    (5, 2050, "U90DANA", "Can the waiting list show which hygienist each patient prefers?"),
]


def messages(seed: int = 47) -> list[tuple[int, int, str, str, str]]:
    """(week index, minute offset in week, channel, user, text): about 150 messages over six weeks."""
    rnd = random.Random(seed)
    out = []
    users = list(USERS)
    by_name = {c.name: c for c in CUSTOMERS}
    for name, counts in WEEKLY.items():
        phrases = PHRASES[name]
        for week, n in enumerate(counts):
            for _ in range(n):
                text = rnd.choice(phrases)
                c = by_name[name]
                channel = c.channel if c.channel and rnd.random() < 0.8 else "C05FEED"
                if channel == "C05FEED" and c.alias and c.alias.casefold() not in text.casefold():
                    text = f"{c.alias}: {text}"
                minute = rnd.randrange(0, 4 * 24 * 60)  # Monday to Thursday
                out.append((week, minute, channel, rnd.choice(users), text))
    # a few team messages that name nobody, in the shared channel: not recorded
    for week in range(6):
        out.append((week, 600, "C05FEED", "U03SAM", "Reminder: team lunch on Friday"))
    # top up to 150 customer messages with Tallwood's week (the busiest customer this week)
    while sum(1 for m in out if "lunch" not in m[4]) < 150:
        out.append(
            (
                5,
                rnd.randrange(0, 3 * 24 * 60),
                "C01TALL",
                rnd.choice(users),
                rnd.choice(PHRASES["Tallwood Dental Group"]),
            )
        )
    return sorted(out, key=lambda m: (m[0], m[1]))
