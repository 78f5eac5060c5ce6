"""Bearer-token authentication for the API's data routes.

Tokens come from the installation's configuration (`api_tokens` in watchfloor.toml or
`WATCHFLOOR_API_TOKENS`); none is built in, so a fresh installation answers every data route with 401
until one is configured. Comparison is constant-time. Users, roles and revocable, hashed tokens replace
this with the console's login (a later step); the routes already declare their dependency on it.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence

from fastapi import HTTPException, Request, status

__all__ = ["bearer_token_guard"]


def bearer_token_guard(tokens: Sequence[str]) -> Callable[[Request], None]:
    """A FastAPI dependency that accepts `Authorization: Bearer <token>` for one of `tokens`."""
    accepted = tuple(t.encode() for t in tokens)

    def guard(request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "a bearer token is required" if accepted else "no API token is configured (api_tokens)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        given = value.strip().encode()
        if not any(hmac.compare_digest(given, token) for token in accepted):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "invalid token")

    return guard
