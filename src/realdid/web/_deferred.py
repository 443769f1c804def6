"""The demo sites are served at once and answer 503 "starting" until their bootstrap is done.

The ports are bound when ``realdid serve`` starts, before the relying parties are registered
with the authority (which needs the node and the authority up): :class:`DeferredApp` holds
each port's place and hands requests to the real app once it exists.
"""

from __future__ import annotations

from starlette.responses import HTMLResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ._pages import templates


class DeferredApp:
    """An ASGI app that answers 503 "starting" until :meth:`set` hands it the real app.

    Lifespan events are answered here (the real app does not exist yet at startup); the
    runtime closes the real apps' resources itself.
    """

    def __init__(self, site_name: str) -> None:
        self.site_name = site_name
        self._app: ASGIApp | None = None
        self._failed = False

    @property
    def ready(self) -> bool:
        return self._app is not None

    def set(self, app: ASGIApp) -> None:
        self._app = app

    def fail(self) -> None:
        self._failed = True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        app = self._app
        if app is not None:
            await app(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        html = (
            templates()
            .get_template("starting.html")
            .render(
                title=self.site_name,
                site_name=self.site_name,
                failed=self._failed,
                script_nonce=None,
            )
        )
        response = HTMLResponse(
            html,
            status_code=503,
            headers={"Retry-After": "2", "Cache-Control": "no-store"},
        )
        await response(scope, receive, send)
