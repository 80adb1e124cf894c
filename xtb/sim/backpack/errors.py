"""Backpack's error shape: HTTP 4xx/5xx with `{"code": "<ApiErrorCode>", "message": "..."}`."""

from __future__ import annotations

import orjson
from aiohttp import web


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def response(self, headers: dict[str, str] | None = None) -> web.Response:
        return json_response(
            {"code": self.code, "message": self.message}, status=self.status, headers=headers
        )


def bad_request(message: str, code: str = "INVALID_CLIENT_REQUEST") -> ApiError:
    return ApiError(400, code, message)


def not_found(message: str = "Not Found") -> ApiError:
    return ApiError(404, "RESOURCE_NOT_FOUND", message)


def json_response(payload: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=orjson.dumps(payload),
        status=status,
        headers=headers,
        content_type="application/json",
        charset="utf-8",
    )
