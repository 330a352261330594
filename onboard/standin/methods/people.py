"""The stand-in's methods about the workspace and its people: auth, team, users, groups."""

from __future__ import annotations

from onboard.standin.answers import Answer, Args, SlackError, _opt_str
from onboard.standin.methods.api import api
from onboard.standin.shapes import user_obj
from onboard.standin.workspace import Workspace


@api("auth.test")
def _auth_test(ws: Workspace, a: Args) -> Answer:
    team = ws.teams[ws.team_id]
    return {
        "url": f"https://{team['domain']}.slack.com/",
        "team": team["name"],
        "user": ws.users[ws.bot_user_id].name,
        "team_id": ws.team_id,
        "user_id": ws.bot_user_id,
        "bot_id": ws.bot_id,
        "is_enterprise_install": False,
    }


@api("team.info")
def _team_info(ws: Workspace, a: Args) -> Answer:
    team = ws.teams.get(_opt_str(a, "team") or ws.team_id)
    if team is None:
        raise SlackError("team_not_found")
    return {"team": {**team, "email_domain": "", "icon": {"image_default": True}}}


@api("users.info")
def _users_info(ws: Workspace, a: Args) -> Answer:
    return {"user": user_obj(ws, ws._user(_opt_str(a, "user")))}


@api("users.lookupByEmail")
def _users_lookup_by_email(ws: Workspace, a: Args) -> Answer:
    email = (_opt_str(a, "email") or "").lower()
    for user in ws.users.values():
        if email and not user.deleted and (user.email or "").lower() == email:
            return {"user": user_obj(ws, user)}
    raise SlackError("users_not_found")


@api("usergroups.users.list")
def _usergroups_users_list(ws: Workspace, a: Args) -> Answer:
    members = ws.usergroups.get(_opt_str(a, "usergroup") or "")
    if members is None:
        raise SlackError("no_such_subteam")
    return {"users": list(members)}
