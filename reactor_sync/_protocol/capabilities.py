"""One capabilities shape for both protocol generations.

What ``Reactor.get_capabilities()`` returns, whichever runtime answered::

    {
        "commands": {name: {"description": str,
                            "schema": {field: {"type", "description", "minimum",
                                               "maximum", "default", ..., "required": bool}}}},
        "tracks": {name: {"kind": "video" | "audio", "direction": "out" | "in", "rate": float | None}},
        "emission_fps": float | None,
        "messages": [message types the model may send],   # current runtimes only
    }

The legacy runtime sends this shape itself (``modelCapabilities``). The
current one describes its model as an OpenAPI document (``modelSchema``): one
``/events/<command>`` path per command, whose ``operationId`` is the name,
``summary`` the description and request body schema the arguments; the
message types it may send are its ``webhooks``. :func:`from_openapi` turns
that into the shape above, taking the tracks from the session descriptor.
"""

from __future__ import annotations

from typing import Any

from .track_specs import TrackSpec

# Field keywords carried over from an OpenAPI property as they are.
_FIELD_KEYS = (
    "type", "description", "default", "minimum", "maximum", "exclusiveMinimum",
    "exclusiveMaximum", "minLength", "maxLength", "enum", "items", "format",
)


def tracks_dict(tracks: list[TrackSpec]) -> dict[str, dict[str, Any]]:
    """Tracks in the capabilities shape: direction as the model sees it."""
    return {
        t.name: {"kind": t.kind, "direction": "out" if t.is_output else "in", "rate": t.rate}
        for t in tracks
    }


def from_openapi(schema: Any, tracks: list[TrackSpec]) -> dict[str, Any]:
    """Capabilities from a current runtime's model schema (see the module docstring)."""
    commands: dict[str, Any] = {}
    paths = schema.get("paths") if isinstance(schema, dict) else None
    for path, item in (paths.items() if isinstance(paths, dict) else ()):
        post = item.get("post") if isinstance(item, dict) else None
        if not isinstance(post, dict):
            continue
        name = post.get("operationId") or str(path).rsplit("/", 1)[-1]
        if not isinstance(name, str) or not name:
            continue
        body = _body_schema(post, schema)
        listed = body.get("required")
        required: list[Any] = listed if isinstance(listed, list) else []
        fields: dict[str, Any] = {}
        properties = body.get("properties")
        for field, spec in (properties.items() if isinstance(properties, dict) else ()):
            spec = _resolve(spec, schema)
            entry = {k: spec[k] for k in _FIELD_KEYS if k in spec}
            if "$ref" in spec or spec.get("x-reactor-upload"):
                entry.setdefault("type", "upload")
            entry["required"] = field in required
            fields[str(field)] = entry
        commands[name] = {"description": str(post.get("summary") or post.get("description") or ""),
                          "schema": fields}
    webhooks = schema.get("webhooks") if isinstance(schema, dict) else None
    return {
        "commands": commands,
        "tracks": tracks_dict(tracks),
        "emission_fps": None,
        "messages": sorted(str(k) for k in webhooks) if isinstance(webhooks, dict) else [],
    }


def from_legacy(data: Any, tracks: list[TrackSpec]) -> dict[str, Any]:
    """A legacy ``modelCapabilities`` payload, with the keys every shape has."""
    caps = dict(data) if isinstance(data, dict) else {}
    commands = caps.get("commands")
    caps["commands"] = {
        str(name): _with_required(spec) for name, spec in commands.items()
    } if isinstance(commands, dict) else {}
    if not isinstance(caps.get("tracks"), dict) or not caps["tracks"]:
        caps["tracks"] = tracks_dict(tracks)
    caps.setdefault("emission_fps", None)
    caps.setdefault("messages", [])
    return caps


def _with_required(spec: Any) -> dict[str, Any]:
    """A legacy command spec whose every field says ``required`` (legacy runtimes
    write it only where true)."""
    out: dict[str, Any] = dict(spec) if isinstance(spec, dict) else {}
    fields = out.get("schema")
    out["schema"] = {
        str(name): {**field, "required": bool(field.get("required", False))}
        for name, field in fields.items() if isinstance(field, dict)
    } if isinstance(fields, dict) else {}
    out.setdefault("description", "")
    return out


def _body_schema(post: dict[str, Any], root: Any) -> dict[str, Any]:
    request = post.get("requestBody")
    content = request.get("content") if isinstance(request, dict) else None
    if not isinstance(content, dict):
        return {}
    media: Any = content.get("application/json") or next(iter(content.values()), {})
    body = _resolve(media.get("schema") if isinstance(media, dict) else None, root)
    return body if isinstance(body, dict) else {}


def _resolve(spec: Any, root: Any) -> dict[str, Any]:
    """Follow one local ``$ref`` (``#/components/schemas/X``); keep the ref's name."""
    if not isinstance(spec, dict):
        return {}
    ref = spec.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/") and isinstance(root, dict):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            merged = {**node, **{k: v for k, v in spec.items() if k != "$ref"}}
            merged["$ref"] = ref
            return merged
    return spec
