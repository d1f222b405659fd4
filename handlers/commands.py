"""/signal, /milestone and /loop: read the payload, run the command in bot/, answer Slack."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from slack_bolt import Ack, App
from slack_sdk import WebClient

from bot.commands.parsing import Ctx
from bot.effects import Reply
from bot.safety import unescape
from handlers.effects import perform

if TYPE_CHECKING:
    from bot.services import Deps


def command_ctx(deps: Deps, command: dict) -> Ctx:
    team_id = command.get("team_id") or ""
    user_id = command.get("user_id") or ""
    channel_id = command.get("channel_id") or ""
    # Slack's is_private / is_ext_shared as conversations.info said them (cached; never an id's first letter);
    # not known yet: the payload's own words ("privategroup", "directmessage", "mpdm-…")
    name = command.get("channel_name") or ""
    known = deps.directory.cached_private(team_id, channel_id)
    private = known if known is not None else name in ("privategroup", "directmessage") or name.startswith("mpdm-")
    shared = deps.connect.is_shared_cached(team_id, channel_id) if deps.connect is not None else False
    # a name from the cache, else the one in the payload: never a Web API wait, never a failed command
    return Ctx(
        team_id=team_id,
        user_id=user_id,
        channel_id=channel_id,
        trigger_id=command.get("trigger_id"),
        user_name=deps.directory.user_name(team_id, user_id) or command.get("user_name"),
        channel_private=private,
        channel_shared=shared,
    )


def register(app: App, deps: Deps) -> None:
    def make(run: Callable[[Ctx, str], Reply]) -> Callable[..., None]:
        def handle(ack: Ack, command: dict, client: WebClient) -> None:
            ctx = command_ctx(deps, command)
            reply = run(ctx, unescape(command.get("text") or ""))
            # the answer is the acknowledgement itself: ephemeral unless the reply is for everyone
            if reply.text or reply.blocks:
                ack(text=reply.text, blocks=reply.blocks, response_type="in_channel" if reply.public else "ephemeral")
            else:
                ack()  # the answer follows from the work the reply asks for (e.g. `/loop digest now`)
            perform(deps, client, ctx.team_id, reply.effects, ctx.trigger_id, (ctx.channel_id, ctx.user_id))
            deps.directory.remember_channel(ctx.team_id, ctx.channel_id, command.get("channel_name"))
            if deps.directory.user_name(ctx.team_id, ctx.user_id) is None:
                deps.directory.learn(ctx.team_id, ctx.user_id)  # after the command's writes are committed

        return handle

    app.command("/signal")(make(deps.commands.signal))
    app.command("/milestone")(make(deps.commands.milestone))
    app.command("/loop")(make(deps.commands.loop))
