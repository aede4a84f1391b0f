"""A lightweight Streamlit visitor: one session over the app's websocket, speaking the protobufs
the browser speaks (BackMsg out, ForwardMsg in), with no browser (used by app_load.py,
keep_crash.py and tests/test_proxy.py).

What it mimics of Streamlit's frontend (1.67): a GET of the page first, which brings the cookies
(a sticky proxy's among them); the websocket on /_stcore/stream with the subprotocols
["streamlit", XSRF token or placeholder, last session id when reconnecting]; a rerun_script
message per interaction carrying the values of the widgets it has set, and a button click as a
trigger value on the button's widget id, a panel (a keyed st.expander) opened or folded as a
bool value; the page's query string (a link's `?k=ID`) with every rerun, as the app last set it.
It does not fetch the pictures a run refers to, and runs no JavaScript (so it keeps no cookie
that a page's script sets).
"""

from __future__ import annotations

import asyncio
import http.client
import time
import urllib.request
from dataclasses import dataclass, field

import websockets
from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

ID_PREFIX = "$$ID-"  # widget ids: "$$ID-<hash>-<user key>"
DONE = {ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY}
MAX_MESSAGE = 64 * 2**20  # pictures travel as URLs, so messages stay far below this


def user_key(widget_id: str) -> str:
    """The key the app gave a widget, from its id ("$$ID-<hash>-<user key>")."""
    return widget_id[len(ID_PREFIX):].split("-", 1)[-1]


class SessionError(Exception):
    """The session cannot go on: its socket closed, a run did not finish in time, or the
    server rejected the script."""


@dataclass(frozen=True)
class Widget:
    """A widget as a run drew it."""

    id: str
    kind: str  # the element's type: "button", "slider", "radio", ..., "expandable"
    disabled: bool
    span: tuple[float, float, float] = (0, 0, 0)  # a slider's min, max and step
    fragment: str = ""  # the fragment that drew it: its input reruns only that fragment


@dataclass
class Page:
    """What one script run sent: widgets by user key, headings, pictures, problems. After a
    fragment's run: the page before it with the fragment's widgets redrawn and its additions."""

    widgets: dict[str, Widget] = field(default_factory=dict)
    headings: list[str] = field(default_factory=list)
    media: list[str] = field(default_factory=list)  # the URLs of the run's pictures
    captions: list[str] = field(default_factory=list)  # of the run's pictures
    problems: list[str] = field(default_factory=list)  # exception elements, error alerts
    warnings: list[str] = field(default_factory=list)  # warning alerts
    toasts: list[str] = field(default_factory=list)  # st.toast's texts
    server_ms: float = 0.0  # from sending the rerun to its script_finished

    def keys(self, prefix: str, enabled: bool = True) -> list[str]:
        """User keys of the widgets whose key starts with `prefix` (enabled ones only)."""
        return [k for k, w in self.widgets.items()
                if k.startswith(prefix) and not (enabled and w.disabled)]

    def after_fragment(self) -> Page:
        """The page a fragment's run starts from: this one, but no problems or time yet."""
        return Page(dict(self.widgets), list(self.headings), list(self.media),
                    list(self.captions))

    def add_block(self, block, fragment: str = "") -> None:
        """A keyed panel (st.expander with a key) is a widget too: its value is open or not."""
        if block.WhichOneof("type") == "expandable" and block.expandable.id.startswith(ID_PREFIX):
            self.widgets[user_key(block.expandable.id)] = Widget(
                block.expandable.id, "expandable", False, fragment=fragment)

    def add(self, element, fragment: str = "") -> None:
        kind = element.WhichOneof("type")
        if kind is None:
            return
        body = getattr(element, kind)
        widget_id = getattr(body, "id", "")
        if isinstance(widget_id, str) and widget_id.startswith(ID_PREFIX):
            key = user_key(widget_id)
            span = (body.min, body.max, body.step) if kind == "slider" else (0, 0, 0)
            self.widgets[key] = Widget(widget_id, kind, bool(getattr(body, "disabled", False)),
                                       span, fragment)
        elif kind == "heading":
            self.headings.append(body.body)
        elif kind == "imgs":
            self.media.extend(image.url for image in body.imgs)
            self.captions.extend(image.caption for image in body.imgs)
        elif kind == "exception":
            self.problems.append(f"exception {body.type}: {body.message[:200]}")
        elif kind == "alert" and body.format == Alert.ERROR:
            self.problems.append(f"error message: {body.body[:200]}")
        elif kind == "alert" and body.format == Alert.WARNING:
            self.warnings.append(body.body)
        elif kind == "toast":
            self.toasts.append(body.body)


class WebsocketVisitor:
    """One visitor's session. `await open()`, then `click`, `slide` or `rerun`; each returns
    the page of the run it caused. Use `async with`; a failure raises SessionError. `query`:
    the page's query string when opened (a link's, without the "?")."""

    def __init__(self, url: str, timeout: float = 60.0, query: str = ""):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.query = query  # the page's query string: the link's, then as the app sets it
        self.cookies = ""
        self.session_id = ""
        self.page = Page()
        self._socket = None
        self._page_hash = ""  # the page's script hash, from new_session: sent with each rerun
        self._values: dict[str, float] = {}  # the sliders this visitor has moved, by user key
        self._panels: dict[str, bool] = {}  # the panels it has opened or folded

    async def __aenter__(self) -> WebsocketVisitor:
        return self

    async def __aexit__(self, *_) -> None:
        await self.close()

    @property
    def server(self) -> str:
        """The app process a sticky proxy keeps this visitor on (its SERVERID cookie, as
        deploy/haproxy.cfg names them: "app1", ...); "" before the page's load or without one."""
        return next((c.split("=", 1)[1] for c in self.cookies.split("; ")
                     if c.startswith("SERVERID=")), "")

    async def open(self, session_id: str = "") -> Page:
        """Load the page (keeping its cookies), connect, and run the script once. With a
        `session_id`, reconnect to that session as a reloading browser tab does."""
        if not self.cookies:
            try:
                self.cookies = await asyncio.to_thread(
                    _page_cookies, self.url + "/" + (f"?{self.query}" if self.query else ""),
                    self.timeout)
            except (OSError, http.client.HTTPException) as e:  # refused, or cut off mid-page
                raise SessionError(f"cannot load the page: {e!r}") from e
        xsrf = next((c.split("=", 1)[1] for c in self.cookies.split("; ")
                     if c.startswith("_streamlit_xsrf=")), "PLACEHOLDER_AUTH_TOKEN")
        protocols = ["streamlit", xsrf, *([session_id] if session_id else [])]
        stream = self.url.replace("http", "ws", 1) + "/_stcore/stream"
        try:
            self._socket = await websockets.connect(
                stream, subprotocols=protocols, max_size=MAX_MESSAGE, max_queue=None,
                additional_headers={"Cookie": self.cookies} if self.cookies else None,
                open_timeout=self.timeout)
        except (OSError, asyncio.TimeoutError, websockets.WebSocketException) as e:
            raise SessionError(f"cannot connect: {type(e).__name__}: {e}") from e
        return await self.rerun()

    async def close(self) -> None:
        if self._socket is not None:
            await self._socket.close()
            self._socket = None

    async def click(self, key: str) -> Page:
        """Click the button with this user key."""
        widget = self._widget(key)
        return await self.rerun(WidgetState(id=widget.id, trigger_value=True), widget.fragment)

    async def slide(self, key: str, value: float) -> Page:
        """Move the slider with this user key to `value`."""
        fragment = self._widget(key).fragment
        self._values[key] = value
        return await self.rerun(fragment=fragment)

    async def open_panel(self, key: str, open_: bool = True) -> Page:
        """Open (or fold) the keyed panel with this user key."""
        fragment = self._widget(key).fragment
        self._panels[key] = open_
        return await self.rerun(fragment=fragment)

    def _widget(self, key: str) -> Widget:
        try:
            return self.page.widgets[key]
        except KeyError:
            raise SessionError(f"no widget {key!r} on the page") from None

    async def rerun(self, trigger: WidgetState | None = None, fragment: str = "") -> Page:
        """Ask for a run, as the browser does after an interaction (of the whole page, or of
        the fragment whose widget it was); wait for its end."""
        if self._socket is None:
            raise SessionError("not connected")
        message = BackMsg()
        run = message.rerun_script
        run.page_script_hash = self._page_hash
        run.fragment_id = fragment
        run.query_string = self.query
        # Like the frontend: the values of the widgets now on the page, then the click
        for key, value in self._values.items():
            if key in self.page.widgets:
                state = run.widget_states.widgets.add(id=self.page.widgets[key].id)
                state.double_array_value.data.append(value)
        for key, open_ in self._panels.items():
            if key in self.page.widgets:
                run.widget_states.widgets.add(id=self.page.widgets[key].id, bool_value=open_)
        if trigger is not None:
            run.widget_states.widgets.append(trigger)
        began = time.perf_counter()
        try:
            page = await asyncio.wait_for(self._run(message.SerializeToString()), self.timeout)
        except asyncio.TimeoutError:
            raise SessionError(f"no script_finished within {self.timeout:.0f} s") from None
        except websockets.ConnectionClosed as e:
            raise SessionError(f"socket closed: {e}") from e
        page.server_ms = (time.perf_counter() - began) * 1000
        self.page = page
        return page

    async def _run(self, request: bytes) -> Page:
        """Send the rerun request; read the elements of the run it starts, up to its
        script_finished."""
        await self._socket.send(request)
        page = Page()
        while True:
            message = ForwardMsg()
            message.ParseFromString(await self._socket.recv())
            kind = message.WhichOneof("type")
            if kind == "new_session":
                # Elements before it (an older run's) are not this run's
                page = self.page.after_fragment() if message.metadata.run.fragment_ids \
                    else Page()
                self._page_hash = message.new_session.page_script_hash
                self.session_id = message.new_session.initialize.session_id or self.session_id
            elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                page.add(message.delta.new_element, message.delta.fragment_id)
            elif kind == "delta" and message.delta.WhichOneof("type") == "add_block":
                page.add_block(message.delta.add_block, message.delta.fragment_id)
            elif kind == "page_info_changed":  # the app changed the page's link
                self.query = message.page_info_changed.query_string
            elif kind == "script_finished":
                if message.script_finished in DONE:
                    return page
                if message.script_finished == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                    raise SessionError("the script failed to compile")
                # FINISHED_EARLY_FOR_RERUN: a newer run follows, with its own new_session


def _page_cookies(url: str, timeout: float) -> str:
    """The Cookie header a browser would send after loading the page."""
    with urllib.request.urlopen(url, timeout=timeout) as answer:
        answer.read()
        return "; ".join(c.split(";", 1)[0] for c in answer.headers.get_all("Set-Cookie") or [])
