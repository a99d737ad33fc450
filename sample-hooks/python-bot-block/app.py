"""viewer-request hook in Python: refuses listed user agents, tags everyone else.

Built with componentize-py against the same WIT contract as the Rust hooks
(hooks-sdk/wit), which is the point: the contract is language-neutral.
"""
import os

from componentize_py_types import Err
from wit_world import WitWorld
from wit_world.imports import types


class WitWorld(WitWorld):
    def handle(self, event: types.Event) -> types.Outcome:
        if event.event_type != types.EventType.VIEWER_REQUEST:
            raise Err("python-bot-block runs at viewer-request")
        request = event.request
        headers = request.headers()
        agent = " ".join(h.value for h in headers.get("user-agent")).lower()
        blocked = [a.strip().lower() for a in os.environ.get("BLOCKED_AGENTS", "").split(",") if a.strip()]
        if any(b in agent for b in blocked):
            response = types.Response(403)
            response.set_status_description("Forbidden")
            response.headers().set("content-type", [types.Header(key="Content-Type", value="text/plain")])
            response.set_body("Automated clients are not allowed here.\n", types.BodyEncoding.TEXT)
            return types.Outcome_Response(response)
        headers.set("x-hook-language", [types.Header(key="X-Hook-Language", value="python")])
        return types.Outcome_Request(request)
