"""The Slack app manifest: exactly the scopes, events, commands and shortcut the app uses."""

from __future__ import annotations

from typing import Any

BOT_SCOPES = [
    "channels:history",  # messages in public channels it was invited to (linked / watch channels)
    "groups:history",  # the same in private channels
    "channels:read",  # conversations.info: is a channel private (quotes never leave private channels)
    "groups:read",
    "chat:write",  # digests, notes, ephemeral answers, direct messages to milestone owners
    "commands",  # /signal, /milestone, /loop and the message shortcut
    "reactions:read",  # the capture reaction
    "users:read",  # display names for quotes (names, never mentions) and time zones
    "users:read.email",  # the customers import resolves owners given by e-mail (users.lookupByEmail)
    "files:write",  # the weekly chart, when a channel turns it on
    "team:read",  # Slack Connect: the name and domain of an organisation a channel is shared with (team.info)
]
# app_uninstalled and tokens_revoked: a multi-workspace install deletes the workspace's tokens
BOT_EVENTS = [
    "message.channels",
    "message.groups",
    "reaction_added",
    "app_home_opened",
    "app_uninstalled",
    "tokens_revoked",
    # Slack Connect: the app added to a channel, a channel shared with another organisation (link proposals)
    "member_joined_channel",
    "channel_shared",
    # a private channel shared through Slack Connect changes its id: links, schedules and signals follow it
    # (https://docs.slack.dev/reference/events/channel_id_changed)
    "channel_id_changed",
]

COMMANDS = [
    ("/signal", "Record a customer signal", "<customer> [#milestone] <what they said>"),
    ("/milestone", "Milestone status and changes", "[customer] | add | start | done | reopen | risk …"),
    ("/loop", "Customers, channels and the weekly learning loop", "help"),
]
ESCAPED = {"/signal", "/milestone", "/loop"}  # should_escape: people, channels and links as Slack ids


class ManifestError(ValueError):
    """A --url the manifest cannot use; the message says why and what to write."""


def check_url(url: str, allow_http: bool = False) -> str:
    """The public base URL Slack will call: https only (Slack calls request URLs over TLS with a valid certificate:
    https://docs.slack.dev/apis/events-api/using-http-request-urls), http:// only for a local tunnel with
    --allow-http; a host, no query or fragment."""
    from urllib.parse import urlsplit

    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http"):
        host = url.strip().split("/", 1)[0] or "your-host.example.com"
        raise ManifestError(f"--url {url}: write it with https://, e.g. https://{host}")
    if parts.scheme == "http" and not allow_http:
        raise ManifestError(
            f"--url {url}: Slack only calls https:// URLs; use https://{parts.netloc or 'your-host'}"
            " (or --allow-http for a local tunnel that Slack reaches by https)"
        )
    if not parts.hostname or parts.query or parts.fragment:
        raise ManifestError(f"--url {url}: give the app's public base URL only, e.g. https://signalloop.example.com")
    return url.strip().rstrip("/")


def manifest(
    url: str | None = None, socket_mode: bool = False, name: str = "signalloop", allow_http: bool = False
) -> dict[str, Any]:
    """The manifest; HTTP mode points every request at <url>/slack/events. A Socket Mode app has no HTTP URL at
    all (no request URLs, no OAuth redirect)."""
    if url is not None and socket_mode:
        raise ManifestError(
            "--url and --socket-mode together: a Socket Mode app has no request or redirect URLs; drop --url"
        )
    if url is not None:
        url = check_url(url, allow_http)
    endpoint = None if socket_mode else f"{(url or 'https://YOUR-HOST.example.com').rstrip('/')}/slack/events"
    commands = []
    for cmd, desc, hint in COMMANDS:
        # every command takes a person, a channel or a link (`/loop customer owner … @person`, `/milestone owner`,
        # a customer named like a domain): with escaping on Slack sends them as <@U…|name>, <#C…|name> and
        # <url|label> rather than plain text (https://docs.slack.dev/interactivity/implementing-slash-commands)
        c: dict[str, Any] = {
            "command": cmd,
            "description": desc,
            "usage_hint": hint,
            "should_escape": cmd in ESCAPED,
        }
        if endpoint:
            c["url"] = endpoint
        commands.append(c)
    events: dict[str, Any] = {"bot_events": BOT_EVENTS}
    oauth: dict[str, Any] = {"scopes": {"bot": BOT_SCOPES}}
    if url:
        # multi-workspace installs come back here (SLACK_CLIENT_ID / SLACK_CLIENT_SECRET set)
        oauth["redirect_urls"] = [f"{url.rstrip('/')}/slack/oauth_redirect"]
    interactivity: dict[str, Any] = {"is_enabled": True}
    if endpoint:
        events["request_url"] = endpoint
        interactivity["request_url"] = endpoint
        # customer selects are searched (external_select): Slack asks this URL for their options
        interactivity["message_menu_options_url"] = endpoint
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": "Customer signals → milestones → a weekly learning loop",
            "background_color": "#2c3e50",
        },
        "features": {
            "app_home": {
                "home_tab_enabled": True,
                "messages_tab_enabled": True,
                "messages_tab_read_only_enabled": True,
            },
            "bot_user": {"display_name": name, "always_online": True},
            "shortcuts": [
                {
                    "name": "Record as customer signal",
                    "type": "message",
                    "callback_id": "record_signal",
                    "description": "Record this message as a customer signal",
                }
            ],
            "slash_commands": commands,
        },
        "oauth_config": oauth,
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,
        },
    }
