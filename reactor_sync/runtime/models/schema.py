"""The model's self-description for current clients: an OpenAPI 3.1 document.

WHY: current clients learn a model's commands from this document (``GET
/schema`` or the ``requestSchema`` runtime message), not from a capabilities
message. It is built from the same ``CommandSpec``/``ParamSpec`` declarations
that validate commands, so what a client is told and what the model accepts
cannot drift apart.

Shape: ``info.title`` is the model name; ``paths`` has one ``/events/<command>``
entry per command whose ``post.operationId`` is the command name, ``summary``
its description and whose JSON request body is an object schema (``required``
lists the parameters without a default); ``responses`` is ``202`` for commands
that return nothing and ``200`` for those that reply. ``webhooks`` lists the
messages the model sends; a file parameter is a ``$ref`` to
``components.schemas.ReactorUploadReference``; ``x-reactor.tracks`` lists the tracks in the model's
view (``direction`` "out" or "in").

Thread: any (a pure function of the model's declarations).
"""

from __future__ import annotations

from typing import Any

from .base import Model, ParamSpec

__all__ = ["openapi_schema"]


UPLOAD_REFERENCE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "format": "reactor-upload-reference",
    "description": "Reference to a file uploaded via the Reactor upload protocol.",
    "properties": {
        "upload_id": {"type": "string"},
        "name": {"type": "string"},
        "mime_type": {"type": "string"},
        "size": {"type": "integer"},
    },
    "required": ["upload_id", "name", "mime_type", "size"],
}


def _param_schema(spec: ParamSpec) -> dict[str, Any]:
    if spec.type == "upload":  # as reactor-runtime 3.x writes a file field
        upload: dict[str, Any] = {"$ref": "#/components/schemas/ReactorUploadReference"}
        if spec.description:
            upload["description"] = spec.description
        return upload
    schema: dict[str, Any] = {"type": spec.type}
    if spec.description:
        schema["description"] = spec.description
    if spec.minimum is not None:
        schema["minimum"] = spec.minimum
    if spec.maximum is not None:
        schema["maximum"] = spec.maximum
    if not spec.required:
        schema["default"] = spec.default
    return schema


def openapi_schema(model: Model, version: str = "1.0.0") -> dict[str, Any]:
    """The OpenAPI document describing ``model``'s commands, messages and tracks."""
    paths: dict[str, Any] = {}
    replies: frozenset[str] = frozenset(getattr(model, "replying_commands", ()))
    for name, spec in model.commands.items():
        body = {
            "type": "object",
            "properties": {p: _param_schema(ps) for p, ps in spec.params.items()},
            "required": [p for p, ps in spec.params.items() if ps.required],
        }
        if name in replies:
            responses: dict[str, Any] = {
                "200": {"content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}}}
            }
        else:
            responses = {"202": {"description": "accepted; no reply"}}
        paths[f"/events/{name}"] = {
            "post": {
                "operationId": name,
                "summary": spec.description,
                "requestBody": {"content": {"application/json": {"schema": body}}},
                "responses": responses,
            }
        }
    messages = list(getattr(model, "message_types", ()))
    return {
        "openapi": "3.1.0",
        "info": {"title": model.name, "version": version},
        "paths": paths,
        "webhooks": {m: {"post": {"operationId": m}} for m in messages},
        "components": {"schemas": {"ReactorUploadReference": dict(UPLOAD_REFERENCE_SCHEMA)}},
        "x-reactor": {
            "tracks": [
                {"name": t["name"], "kind": t["kind"], "direction": "out" if t["direction"] == "recvonly" else "in"}
                for t in model.session_tracks()
            ]
        },
    }
