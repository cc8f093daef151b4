"""A Streamlit browser tab without a browser: one session over the app's websocket, speaking
the installed Streamlit's own protobuf messages (`streamlit.proto`), as the frontend does.

`Tab.run(page, query)` sends a BackMsg `rerun_script` (the page's name and query string, the
widget states the tab holds) and reads ForwardMsgs until `script_finished`; what the run drew is
kept as plain facts: texts (markdown, headings, alerts, captions), the bidi components (their
id and JSON data), text inputs and buttons by label (their widget ids), and the fragments that
asked to be rerun on a timer (`auto_rerun`). `Tab.trigger(component_id, event, value)` sends a
bidi component's trigger the way `setTriggerValue(event, value)` does in the browser: a rerun
whose widget states carry the component's trigger aggregator, a JSON list of {event, value}.
`Tab.rerun_fragment(fragment_id)` is the browser's timer for an `st.fragment(run_every=…)`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

INTERNAL_PREFIX = "$$STREAMLIT_INTERNAL_KEY"  # streamlit.runtime.state.session_state's
FINISHED = {
    ForwardMsg.FINISHED_SUCCESSFULLY,
    ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
    ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
}


class ProtocolError(RuntimeError):
    """The server closed the session or said something this client does not expect."""


@dataclass
class Drawn:
    """What one script run drew, as facts a test or bench asks about."""

    texts: list[str] = field(default_factory=list)
    components: dict[str, dict[str, Any]] = field(default_factory=dict)  # id → its data
    inputs: dict[str, str] = field(default_factory=dict)  # text input label → widget id
    buttons: dict[str, str] = field(default_factory=dict)  # button label → widget id
    fragments: dict[str, float] = field(default_factory=dict)  # fragment id → seconds
    messages: int = 0
    exception: str | None = None

    def says(self, text: str) -> bool:
        return any(text in shown for shown in self.texts)


def _element_facts(element: Any, drawn: Drawn) -> None:
    kind = element.WhichOneof("type")
    if kind == "markdown":
        drawn.texts.append(element.markdown.body)
    elif kind == "heading":
        drawn.texts.append(element.heading.body)
    elif kind == "alert":
        drawn.texts.append(element.alert.body)
    elif kind == "exception":
        drawn.exception = element.exception.message or element.exception.type
    elif kind == "bidi_component":
        proto = element.bidi_component
        data = json.loads(proto.json) if proto.json else None
        drawn.components[proto.id] = data if isinstance(data, dict) else {}
    elif kind == "text_input":
        drawn.inputs[element.text_input.label] = element.text_input.id
    elif kind == "button":
        drawn.buttons[element.button.label] = element.button.id


class Tab:
    """One tab's Streamlit session. `await Tab.open(base_url)`, then runs and triggers."""

    def __init__(self, socket: Any, base_url: str) -> None:
        self.socket = socket
        self.base_url = base_url
        self.widgets: dict[str, WidgetState] = {}  # the widget states this tab holds
        self.page = ""
        self.query = ""
        self.page_hash = ""  # the page the server ran last, as the browser sends it back

    @classmethod
    async def open(
        cls, base_url: str, *, timeout: float = 60, local_addr: tuple[str, int] | None = None
    ) -> Tab:
        """A new session; `local_addr` connects from that address (one of 127/8, say)."""
        parts = urlsplit(base_url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        socket = await websockets.connect(
            f"{scheme}://{parts.netloc}{parts.path.rstrip('/')}/_stcore/stream",
            subprotocols=["streamlit"],  # type: ignore[list-item]
            origin=f"{parts.scheme}://{parts.netloc}",  # type: ignore[arg-type]
            max_size=None,
            open_timeout=timeout,
            ping_interval=None,
            compression=None,
            **({"local_addr": local_addr} if local_addr else {}),
        )
        return cls(socket, base_url)

    async def close(self) -> None:
        await self.socket.close()

    async def _send(self, **client_state: Any) -> None:
        message = BackMsg()
        state = message.rerun_script
        state.query_string = self.query
        state.page_name = self.page
        state.page_script_hash = self.page_hash
        for name, value in client_state.items():
            setattr(state, name, value)
        state.widget_states.widgets.extend(self.widgets.values())
        await self.socket.send(message.SerializeToString())

    async def _read_run(self, timeout: float) -> Drawn:
        drawn = Drawn()
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no script_finished in {timeout:g} s")
            try:
                raw = await _recv(self.socket, left)
            except websockets.ConnectionClosed as exc:
                raise ProtocolError(f"the server closed the session: {exc}") from exc
            message = ForwardMsg()
            message.ParseFromString(raw)
            drawn.messages += 1
            kind = message.WhichOneof("type")
            if kind == "new_session" and message.new_session.page_script_hash:
                self.page_hash = message.new_session.page_script_hash
            elif kind == "navigation" and message.navigation.page_script_hash:
                self.page_hash = message.navigation.page_script_hash
            elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                _element_facts(message.delta.new_element, drawn)
            elif kind == "auto_rerun":
                drawn.fragments[message.auto_rerun.fragment_id] = message.auto_rerun.interval
            elif kind == "script_finished" and message.script_finished in FINISHED:
                return drawn

    async def run(self, page: str, query: str = "", *, timeout: float = 60) -> Drawn:
        """Open `page` (its url path, "" for the landing page) with `query`, as a page load
        does, and wait for the script run to finish."""
        self.page, self.query, self.page_hash = page, query, ""
        await self._send()
        return await self._read_run(timeout)

    async def trigger(
        self, component_id: str, event: str, value: Any, *, timeout: float = 60
    ) -> Drawn:
        """The component's `setTriggerValue(event, value)`: a rerun carrying the trigger."""
        trigger = WidgetState(id=f"{INTERNAL_PREFIX}_{component_id}__events")
        trigger.json_trigger_value = json.dumps([{"event": event, "value": value}])
        await self._send_with(trigger)
        return await self._read_run(timeout)

    async def submit_form(
        self, values: dict[str, str], button: str, *, timeout: float = 60
    ) -> Drawn:
        """Type `values` (text input id → text) and press the form's submit button (its id)."""
        for widget_id, text in values.items():
            state = WidgetState(id=widget_id)
            state.string_value = text
            self.widgets[widget_id] = state
        pressed = WidgetState(id=button)
        pressed.trigger_value = True
        await self._send_with(pressed)
        return await self._read_run(timeout)

    async def rerun_fragment(self, fragment_id: str, *, timeout: float = 60) -> Drawn:
        """What the browser's timer does for an `st.fragment(run_every=…)`."""
        await self._send(fragment_id=fragment_id, is_auto_rerun=True)
        return await self._read_run(timeout)

    async def _send_with(self, once: WidgetState) -> None:
        """A rerun whose widget states carry `once` (a trigger: sent this time only)."""
        message = BackMsg()
        state = message.rerun_script
        state.query_string = self.query
        state.page_name = self.page
        state.page_script_hash = self.page_hash
        state.widget_states.widgets.extend([*self.widgets.values(), once])
        await self.socket.send(message.SerializeToString())


async def _recv(socket: Any, timeout: float) -> bytes:
    import asyncio

    raw = await asyncio.wait_for(socket.recv(), timeout)
    if isinstance(raw, str):
        raise ProtocolError("a text frame: Streamlit sends binary protobufs")
    return bytes(raw)
