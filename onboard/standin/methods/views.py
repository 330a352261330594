"""The stand-in's views.* methods: modals opened, pushed and updated, and App Home."""

from __future__ import annotations

from typing import Any

from onboard.standin.answers import Answer, Args, SlackError, _invalid, _opt_str
from onboard.standin.limits import MAX_VIEW_STACK, TRIGGER_TTL
from onboard.standin.methods.api import api
from onboard.standin.methods.arguments import parse_view
from onboard.standin.records import View
from onboard.standin.shapes import view_obj
from onboard.standin.workspace import Workspace


def _trigger_user(ws: Workspace, a: Args) -> tuple[str, str]:
    trigger_id = _opt_str(a, "trigger_id")
    if trigger_id is None:
        raise _invalid("[ERROR] missing required field: trigger_id")
    trigger = ws._triggers.get(trigger_id)
    if trigger is None:
        raise SlackError("invalid_trigger_id")
    if trigger["used"]:
        raise SlackError("exchanged_trigger_id")
    if ws.clock() - trigger["issued"] > TRIGGER_TTL:
        raise SlackError("expired_trigger_id")
    return trigger_id, trigger["user"]


def _check_external_id(ws: Workspace, external_id: str, own: str | None = None) -> None:
    if external_id and any(v.external_id == external_id and v.id != own for v in ws.views.values()):
        raise SlackError("duplicate_external_id")


def _store_view(ws: Workspace, spec: dict[str, Any], view: View) -> View:
    _check_external_id(ws, spec.get("external_id") or "", view.id)
    view.type, view.blocks = spec["type"], spec.get("blocks") or []
    view.callback_id = spec.get("callback_id") or ""
    view.private_metadata = spec.get("private_metadata") or ""
    view.title, view.submit, view.close = spec.get("title"), spec.get("submit"), spec.get("close")
    view.external_id = spec.get("external_id") or ""
    view.clear_on_close = bool(spec.get("clear_on_close"))
    view.notify_on_close = bool(spec.get("notify_on_close"))
    view.hash = ws._new_hash()
    ws.views[view.id] = view
    return view


def _open_modal(ws: Workspace, a: Args, push: bool) -> Answer:
    trigger_id, user_id = _trigger_user(ws, a)
    spec = parse_view(a, ("modal",))
    stack = ws._stacks.get(user_id, []) if push else []
    if len(stack) >= MAX_VIEW_STACK:
        raise SlackError("push_limit_reached")
    view_id = ws._new_id("V")
    view = View(view_id, "modal", user_id=user_id, root_view_id=stack[0] if stack else view_id)
    view.previous_view_id = stack[-1] if stack else None
    _store_view(ws, spec, view)
    ws._triggers[trigger_id]["used"] = True
    ws._stacks[user_id] = [*stack, view.id]
    return {"view": view_obj(ws, view)}


@api("views.open")
def _views_open(ws: Workspace, a: Args) -> Answer:
    return _open_modal(ws, a, push=False)


@api("views.push")
def _views_push(ws: Workspace, a: Args) -> Answer:
    return _open_modal(ws, a, push=True)


@api("views.update")
def _views_update(ws: Workspace, a: Args) -> Answer:
    view_id, external_id = _opt_str(a, "view_id"), _opt_str(a, "external_id")
    if not view_id and not external_id:
        raise _invalid("[ERROR] either view_id or external_id is required")
    found = [
        v
        for v in ws.views.values()
        if v.id == view_id or (external_id and v.external_id == external_id)
    ]
    if not found:
        raise SlackError("not_found")
    view = found[0]
    spec = parse_view(a, (view.type,))
    if _opt_str(a, "hash") not in (None, view.hash):
        raise SlackError("hash_conflict")
    return {"view": view_obj(ws, _store_view(ws, spec, view))}


@api("views.publish")
def _views_publish(ws: Workspace, a: Args) -> Answer:
    user = ws._user(_opt_str(a, "user_id"))
    spec = parse_view(a, ("home",))
    current = ws.home_of(user.id)
    if current and _opt_str(a, "hash") not in (None, current.hash):
        raise SlackError("hash_conflict")
    view = current or View(ws._new_id("V"), "home", user_id=user.id)
    ws._homes[user.id] = view.id
    return {"view": view_obj(ws, _store_view(ws, spec, view))}
