"""Serves the operators' recorded prompts to Twilio's <Play>.

Only files the loaded line knows as recordings are served, looked up by name in that list, so no
path from a URL ever reaches the file system. Twilio fetches media without our signature check
(they hold no caller data); a versioned URL (?v=<content hash>) may be cached for good.
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, request, send_from_directory, url_for

from ..menus.model import AUDIO_TYPES, Recording

bp = Blueprint("media", __name__)


def media_url(language: str, recording: Recording) -> str:
    return url_for("media.recording", language=language, name=recording.file, v=recording.version, _external=True)


@bp.route("/recordings/<language>/<name>", methods=["GET", "HEAD"])
def recording(language: str, name: str):
    line = current_app.extensions["ivr"].serving()
    lang = line.language(language)
    known = {r.file: r for r in lang.recordings.values()} if lang else {}
    found = known.get(name)
    if found is None:
        abort(404)
    folder = Path(current_app.extensions["ivr"].prompts) / language
    response = send_from_directory(folder, found.file, mimetype=AUDIO_TYPES[Path(found.file).suffix.lower()],
                                   conditional=True, max_age=300)
    if request.args.get("v") == found.version:
        response.cache_control.max_age = 365 * 24 * 3600  # this URL's content never changes
        response.cache_control.public = True
        response.cache_control.immutable = True
    return response
