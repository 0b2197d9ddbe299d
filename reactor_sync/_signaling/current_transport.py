"""The current protocol's WebRTC transport routes, shared by runtime and coordinator.

Under ``/sessions/{sid}/transport/webrtc`` a local runtime (2.x/3.x) and the
current cloud coordinator serve the same routes: ``ice_servers``, one
``connections`` registration per client (the id is reused by every
reconnect), and per connection an offer (``POST``, or ``PUT`` on reconnect)
answered 202, whose answer is then polled with ``GET .../sdp_params`` (202
while the runtime gathers, 200 with the answer exactly once).

A failed negotiation shows only as a poll that never turns 200, so polling is
bounded by :data:`ANSWER_WAIT_S` as well as by the caller's deadline.
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any, Protocol

import requests

from .._loop.deadline import Deadline
from .._protocol.track_specs import TrackSpec, tracks_from_capabilities
from .._webrtc.codecs import with_bitrate_floor
from ..errors import Component, ProtocolError, ReactorTimeoutError
from . import SessionPlan
from .http_client import HttpClient
from .ice import ice_servers_from

logger = logging.getLogger(__name__)

WEBRTC_HEADERS = {"Reactor-WebRTC-Version": "1.0"}
# The runtime answers after its own ICE gathering (capped at 3 s); beyond this
# the negotiation failed on its side and the poll would answer 202 forever.
ANSWER_WAIT_S = 15.0
# Answers are usually ready within 0.1 s on loopback: poll fast, then back off.
POLL_FIRST_S = 0.02
POLL_CAP_S = 0.5
# A runtime on this machine may pace our video at no less than this (see
# _webrtc.codecs.with_bitrate_floor): a 14 KB frame then leaves in ~20 ms, not 50-90.
LOCAL_BITRATE_FLOOR_KBPS = 2500


class Caller(Protocol):
    """An HTTP call with the headers (and auth) of its server."""

    def __call__(
        self,
        method: str,
        path: str,
        deadline: Deadline,
        *,
        ok: tuple[int, ...] = ...,
        json_body: Any = ...,
        headers: dict[str, str] | None = ...,
    ) -> requests.Response: ...


class CurrentTransport:
    """The transport routes of one server; ``call`` adds its auth, if any."""

    def __init__(
        self, http: HttpClient, call: Caller, *, offer_ice_servers: bool, bitrate_floor_kbps: int | None = None
    ) -> None:
        self._http = http
        self._call = call
        self._bitrate_floor_kbps = bitrate_floor_kbps
        # With a runtime on this machine, ask it to gather host candidates
        # only: its default STUN server is public and stalls gathering offline.
        self._offer_ice_servers = offer_ice_servers

    @property
    def component(self) -> Component:
        return self._http.component

    @staticmethod
    def base(session_id: str) -> str:
        return f"/sessions/{urllib.parse.quote(session_id, safe='')}/transport/webrtc"

    def prepare(self, plan: SessionPlan, deadline: Deadline) -> None:
        """ICE servers for ``plan``, and a connection id if it has none yet."""
        assert plan.session_id is not None
        base = self.base(plan.session_id)
        response = self._call("GET", base + "/ice_servers", deadline, headers=WEBRTC_HEADERS)
        plan.ice_servers = ice_servers_from(self._http.json_of(response, "GET .../ice_servers", "ice_servers"))
        if plan.connection_id is not None:
            return
        response = self._call(
            "POST", base + "/connections", deadline, ok=(200, 201), headers=WEBRTC_HEADERS
        )
        body = self._http.json_of(response, "POST .../connections", "connection_id")
        cid = body["connection_id"]
        if not isinstance(cid, int) or isinstance(cid, bool):
            raise ProtocolError(
                f"POST .../connections answered a connection_id that is not a number: {cid!r}",
                component=self.component,
            )
        plan.connection_id = cid
        plan.tracks = _with_rates(plan.tracks, body.get("track_map"))

    def negotiate(
        self, plan: SessionPlan, offer: str, track_mapping: list[dict[str, str]], deadline: Deadline,
        *, reconnect: bool,
    ) -> str:
        """Post (or on reconnect put) the offer, then poll for the answer."""
        assert plan.session_id is not None and plan.connection_id is not None
        path = f"{self.base(plan.session_id)}/connections/{plan.connection_id}/sdp_params"
        if self._bitrate_floor_kbps:
            offer = with_bitrate_floor(offer, self._bitrate_floor_kbps)
        body: dict[str, Any] = {"sdp_offer": offer, "track_mapping": track_mapping}
        if self._offer_ice_servers:
            body["ice_servers"] = []
        method = "PUT" if reconnect else "POST"
        self._call(method, path, deadline, ok=(200, 201, 202), json_body=body, headers=WEBRTC_HEADERS)
        return self._poll_answer(path, deadline)

    def _poll_answer(self, path: str, deadline: Deadline) -> str:
        wait = Deadline(min(ANSWER_WAIT_S, deadline.remaining()), "waiting for the SDP answer")
        delay = POLL_FIRST_S
        while True:
            response = self._call("GET", path, deadline, ok=(200, 202), headers=WEBRTC_HEADERS)
            if response.status_code == 200 and response.content.strip():
                sdp = self._http.json_of(response, "GET .../sdp_params", "sdp_answer")["sdp_answer"]
                if not isinstance(sdp, str) or not sdp.strip():
                    raise ProtocolError("GET .../sdp_params answered an empty sdp_answer",
                                        component=self.component)
                return sdp
            try:
                left = wait.remaining()
            except ReactorTimeoutError:
                if deadline.remaining() > 0:  # ours ran out, not the caller's: the runtime failed
                    raise ReactorTimeoutError(
                        f"the runtime gave no SDP answer within {wait.timeout:g} s "
                        "(it rejected our offer, or its ICE gathering failed)",
                        component=self.component,
                    ) from None
                raise
            deadline.sleep(min(delay, left))
            delay = min(delay * 2, POLL_CAP_S)


def _with_rates(tracks: list[TrackSpec], track_map: Any) -> list[TrackSpec]:
    """Copy each track's frame rate from the connection's ``track_map``, where given."""
    if not isinstance(track_map, dict):
        return tracks
    out = []
    for track in tracks:
        entry = track_map.get(track.name)
        rate = entry.get("rate") if isinstance(entry, dict) else None
        if isinstance(rate, (int, float)) and not isinstance(rate, bool):
            track = TrackSpec(track.name, track.kind, track.direction, float(rate))
        out.append(track)
    return out


# Far above any model's (reactor-runtime's have 1-4); each one is an m-line of the offer.
MAX_TRACKS = 32
MAX_TRACK_NAME_CHARS = 128


def check_descriptor(body: dict[str, Any], what: str, component: Component) -> list[TrackSpec]:
    """The tracks of a session descriptor; ProtocolError if it offers no WebRTC."""
    transport = body.get("selected_transport")
    if isinstance(transport, dict) and transport.get("protocol") not in (None, "webrtc"):
        raise ProtocolError(
            f"{what}: the server selected the transport {transport.get('protocol')!r}; "
            "reactor_sync speaks WebRTC only",
            component=component,
        )
    caps = body.get("capabilities")
    raw = caps.get("tracks") if isinstance(caps, dict) else None
    _check_track_sizes(raw, what, component)
    tracks = tracks_from_capabilities(raw)
    if tracks is None:
        raise ProtocolError(f"{what} answered a session without capabilities.tracks", component=component)
    return tracks



def _check_track_sizes(raw: Any, what: str, component: Component) -> None:
    """ProtocolError at once for more declared tracks (or longer names) than any model has.

    WHY on the caller's thread, before anything is built: each track is an
    m-line of the offer, built on the loop thread every Reactor of the
    process shares; 1000 declared tracks took 31 s there (2 MB of SDP) and
    stalled every other session, past the caller's timeout.
    """
    if not isinstance(raw, list):
        return
    if len(raw) > MAX_TRACKS:
        raise ProtocolError(
            f"{what} declares {len(raw)} tracks, more than the limit of {MAX_TRACKS} (MAX_TRACKS); refused",
            code="TOO_MANY_TRACKS",
            component=component,
        )
    for entry in raw:
        name = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(name, str) and len(name) > MAX_TRACK_NAME_CHARS:
            raise ProtocolError(
                f"{what} declares a track name of {len(name)} characters, more than the limit of "
                f"{MAX_TRACK_NAME_CHARS}; refused",
                code="TRACK_NAME_TOO_LONG",
                component=component,
            )
