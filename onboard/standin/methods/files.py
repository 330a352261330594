"""The stand-in's files.* methods: the two-step external upload."""

from __future__ import annotations

from onboard.standin.answers import Answer, Args, SlackError, _invalid, _opt_str
from onboard.standin.methods.api import api
from onboard.standin.methods.arguments import (
    id_list,
    int_arg,
    json_arg,
)
from onboard.standin.records import UploadedFile
from onboard.standin.shapes import file_obj
from onboard.standin.workspace import Workspace


@api("files.getUploadURLExternal")
def _files_get_upload_url(ws: Workspace, a: Args) -> Answer:
    filename = _opt_str(a, "filename")
    length = int_arg(a, "length", -1)
    if not filename or length < 0:
        raise _invalid("[ERROR] filename and length are required")
    if len(_opt_str(a, "alt_txt") or "") > 1000:
        raise _invalid("[ERROR] alt_txt must be 1000 characters or fewer")
    upload = UploadedFile(ws._new_id("F"), filename, length, _opt_str(a, "alt_txt") or "")
    upload.created = int(ws.clock())
    ws.files[upload.id] = upload
    return {"upload_url": f"{ws.base_url}upload/{upload.id}", "file_id": upload.id}


@api("files.completeUploadExternal")
def _files_complete_upload(ws: Workspace, a: Args) -> Answer:
    entries = json_arg(a, "files", "invalid_arguments")
    if not isinstance(entries, list) or not entries:
        raise _invalid("[ERROR] missing required field: files")
    uploads = []
    for entry in entries:
        upload = ws.files.get(str(entry.get("id")) if isinstance(entry, dict) else "")
        if upload is None or upload.content is None:
            raise SlackError("file_not_found")
        upload.title = str(entry.get("title") or upload.filename)
        uploads.append(upload)
    targets = id_list(a, "channels") or id_list(a, "channel_id")
    channels = [ws._writable(ws._channel({"channel": c})) for c in targets]
    for channel in channels:
        ws._post(
            channel,
            _opt_str(a, "initial_comment") or "",
            [],
            thread_ts=_opt_str(a, "thread_ts"),
            files=[u.id for u in uploads],
        )
        for upload in uploads:
            upload.channels.append(channel.id)
    return {"files": [file_obj(ws, u) for u in uploads]}
