"""The fake server's shared state (ids, clock, one lock) and cursor pagination."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vqaft.testing._api_error import ApiError
from vqaft.testing._ids import IdFactory

__all__ = ["Store", "int_param", "paginate"]


class Store:
    """What every endpoint service shares: a re-entrant lock, the id factory and the clock."""

    def __init__(self, *, seed: int, clock: Callable[[], float]) -> None:
        self.lock = threading.RLock()
        self.ids = IdFactory(seed)
        self.clock = clock

    def now(self) -> int:
        """The current Unix time in whole seconds, from the configured clock."""
        return int(self.clock())


def int_param(query: Mapping[str, str], name: str, default: int, *, low: int, high: int) -> int:
    """An integer query parameter in [low, high], or a 400."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(
            400, f"Invalid '{name}': expected an integer, got {raw!r}.", param=name
        ) from None
    if not low <= value <= high:
        raise ApiError(
            400, f"Invalid '{name}': expected a value in [{low}, {high}], got {value}.", param=name
        )
    return value


def paginate(
    items: Sequence[Mapping[str, Any]],
    query: Mapping[str, str],
    *,
    default_limit: int = 20,
    max_limit: int = 100,
    first_last_ids: bool = False,
) -> dict[str, Any]:
    """A cursor page (``{"object": "list", "data", "has_more"}``) over items already in
    the endpoint's order, honouring ``after`` (an item id) and ``limit``."""
    limit = int_param(query, "limit", default_limit, low=1, high=max_limit)
    start = 0
    after = query.get("after")
    if after:
        ids = [item.get("id") for item in items]
        start = ids.index(after) + 1 if after in ids else len(items)
    data = [dict(item) for item in items[start : start + limit]]
    page: dict[str, Any] = {
        "object": "list",
        "data": data,
        "has_more": start + limit < len(items),
    }
    if first_last_ids:
        page["first_id"] = data[0]["id"] if data else None
        page["last_id"] = data[-1]["id"] if data else None
    return page
