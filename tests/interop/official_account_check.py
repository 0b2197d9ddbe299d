"""Run by test_official_account.py under reactor-sdk 1.13.0's interpreter: its token and adoption calls.

Against the coordinator emulator at argv[1] with the key argv[2]: fetch_jwt
unscoped and scoped, a model-scoped connect with max_session_duration_seconds,
a second client adopting the first one's session, a session-bound token used
for another session. Prints one JSON line of what happened.
"""

from __future__ import annotations

import asyncio
import json
import sys

from reactor_sdk import Reactor, fetch_jwt


async def main(url: str, key: str) -> dict[str, object]:
    out: dict[str, object] = {
        "unscoped": fetch_jwt(key, url).count("."),
        "scoped": fetch_jwt(key, url, models=["livecore"], max_session_duration_seconds=600,
                            expires_after=300, max_sessions=2).count("."),
    }
    owner = Reactor("livecore", api_key=key, api_url=url, max_session_duration_seconds=120)
    await owner.connect()
    sid = owner.session_id
    out["owner"] = str(owner.status)
    guest = Reactor("livecore", api_key=key, api_url=url)
    await guest.connect(session_id=sid)
    out["guest"] = str(guest.status)
    out["guest_session"] = guest.session_id == sid
    await guest.disconnect()
    bound = fetch_jwt(key, url, sessions=[sid])
    stranger = Reactor("livecore", jwt=bound, api_url=url)
    try:
        await stranger.connect()  # a new session with a session-bound token
        out["bound_new_session"] = "allowed"
        await stranger.disconnect()
    except Exception as exc:  # what 1.13 raises is its business; that it refuses is ours
        out["bound_new_session"] = type(exc).__name__
    out["sid"] = sid
    await owner.disconnect()
    return out


if __name__ == "__main__":
    print(json.dumps(asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2]), 120))))
