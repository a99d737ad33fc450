"""viewer-request hook in Python: refuses listed user agents, tags everyone else.

Built with componentize-py against the same WIT contract as the Rust hooks
(hooks-sdk/wit), which is the point: the contract is language-neutral.
"""
import os

from componentize_py_types import Err
from wit_world import WitWorld
from wit_world.imports import types


class WitWorld(WitWorld):
    def handle(
        self,
        event_type: types.EventType,
        request: types.Request,
        response: types.Response | None,
    ) -> types.Outcome:
        # request and response are lent for the call: read and change them, return what to do.
        if event_type != types.EventType.VIEWER_REQUEST:
            raise Err("python-bot-block runs at viewer-request")
        headers = request.headers()
        agent = " ".join(h.value for h in headers.get("user-agent")).lower()
        blocked = [a.strip().lower() for a in os.environ.get("BLOCKED_AGENTS", "").split(",") if a.strip()]
        if any(b in agent for b in blocked):
            refusal = types.Response(403)
            refusal.set_status_description("Forbidden")
            refusal.headers().set("content-type", [types.Header(key="Content-Type", value="text/plain")])
            refusal.set_body("Automated clients are not allowed here.\n", types.BodyEncoding.TEXT)
            return types.Outcome_Generated(refusal)
        headers.set("x-hook-language", [types.Header(key="X-Hook-Language", value="python")])
        return types.Outcome_Request()
