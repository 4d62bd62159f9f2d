"""The API's OpenAPI 3.1 document: the parts every feature's routes share (the bearer
token scheme, the error shape), and the document built from the paths each feature
declares for its own routes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BEARER: list[dict[str, list[str]]] = [{"token": []}]
ERROR = {"$ref": "#/components/responses/Error"}


def operation(summary: str, supervisor: bool = False, body: dict[str, Any] | None = None) -> Any:
    """A bearer-token operation with the usual refusals; ``body`` is a JSON object schema's
    ``properties``/``required``."""
    result: dict[str, Any] = {
        "summary": summary + (" (supervisors only)" if supervisor else ""),
        "security": BEARER,
        "responses": {
            "200": {"description": "OK"},
            "400": ERROR,
            "401": ERROR,
            **({"403": ERROR} if supervisor else {}),
        },
    }
    if body is not None:
        result["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object", **body}}},
        }
    return result


def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "description": description, "schema": schema}


def document(paths: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Hotline agents and supervisors", "version": "1"},
        "components": {
            "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Error": {
                    "description": "error_id (stable), message, details",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "error_id": {"type": "string"},
                                    "message": {"type": "string"},
                                    "details": {"type": "object"},
                                },
                            }
                        }
                    },
                }
            },
        },
        "paths": dict(paths),
    }
