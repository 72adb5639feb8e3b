"""The route that serves stored elements and uploads to the owner of their thread."""

from __future__ import annotations

import mimetypes
from typing import Any

from ui.data_layer import FILE_ROUTE, LocalStorageClient, MlchatDataLayer

_INLINE_MIME = {
    "application/json",
    "text/csv",
    "text/plain",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
}


def mount_file_route(data_layer: MlchatDataLayer, *, path: str = FILE_ROUTE) -> None:
    """Serve the data layer's stored files at ``path`` to the owner of their thread.

    The route answers 401 without a valid login cookie and 404 for keys that
    are not a stored element of one of the user's threads, or that would
    leave the storage folder. It is registered ahead of Chainlit's catch-all
    page route (which would otherwise answer every GET). Files that are not
    images, CSV, JSON or plain text are sent as attachments, so stored HTML or
    SVG never runs in the page.
    """
    from chainlit.auth import get_current_user
    from chainlit.server import app
    from fastapi import Depends, HTTPException
    from fastapi.responses import FileResponse
    from starlette.routing import Route

    storage = data_layer.storage_provider
    if not isinstance(storage, LocalStorageClient):
        raise TypeError("mount_file_route serves a LocalStorageClient only")

    async def read_file(object_key: str, current_user: Any = Depends(get_current_user)) -> Any:  # noqa: B008
        user_id = getattr(current_user, "id", None)
        if current_user is None or user_id is None:
            raise HTTPException(status_code=401, detail="Log in to read files.")
        await storage.fetch(object_key)
        found = storage.stored_file(object_key)
        if found is None or await data_layer.file_owner(storage.key_for(object_key)) != user_id:
            raise HTTPException(status_code=404, detail="File not found.")
        guessed = mimetypes.guess_type(found.name)[0]
        mime = guessed or storage.stored_mime(found) or "application/octet-stream"
        inline = mime in _INLINE_MIME
        return FileResponse(
            found,
            media_type=mime,
            filename=found.name,
            content_disposition_type="inline" if inline else "attachment",
            headers={"X-Content-Type-Options": "nosniff"},
        )

    route_path = f"{path.rstrip('/')}/{{object_key:path}}"
    app.router.routes[:] = [
        r for r in app.router.routes if not (isinstance(r, Route) and r.path == route_path)
    ]
    app.add_api_route(route_path, read_file, methods=["GET"])
    app.router.routes.insert(0, app.router.routes.pop())
