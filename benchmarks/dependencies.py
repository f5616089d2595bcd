"""What Litestar's dependency injection costs a handler, independent against chained.

Litestar resolves a handler's dependencies that do not depend on each other in an
anyio task group; a chain (each depending on the one before) is resolved one by
one. ``survey_app.server.app.dependencies`` chains ``ctx``, ``writer`` and
``principal`` for that reason. CPU µs per request in process, least of 5 rounds:

    python -m benchmarks.dependencies
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Litestar, get
from litestar.di import NamedDependency, Provide

from benchmarks.layers import drive

VALUE = object()
NAMES = ("ctx", "writer", "principal")


@get("/none")
async def none() -> dict[str, str]:
    return {"status": "ok"}


@get("/three")
async def three(
    ctx: NamedDependency[Any], writer: NamedDependency[Any], principal: NamedDependency[Any]
) -> dict[str, str]:
    return {"status": "ok"}


def after_ctx(ctx: NamedDependency[Any]) -> Any:
    return ctx


def after_writer(writer: NamedDependency[Any]) -> Any:
    return writer


def apps() -> dict[str, tuple[Litestar, str]]:
    independent = {name: Provide(lambda: VALUE, sync_to_thread=False) for name in NAMES}
    chained = {
        "ctx": Provide(lambda: VALUE, sync_to_thread=False),
        "writer": Provide(after_ctx, sync_to_thread=False),
        "principal": Provide(after_writer, sync_to_thread=False),
    }
    return {
        "no dependency": (Litestar([none]), "/none"),
        "three independent": (Litestar([three], dependencies=independent), "/three"),
        "three chained": (Litestar([three], dependencies=chained), "/three"),
    }


def main() -> int:
    loop = asyncio.new_event_loop()
    built = apps()
    best = dict.fromkeys(built, float("inf"))
    for _ in range(5):
        for name, (app, path) in built.items():
            best[name] = min(best[name], loop.run_until_complete(drive(app, path, 5000, [])))
    loop.close()
    print("| handler | CPU µs/request |")
    print("|---|---:|")
    for name, seconds in best.items():
        print(f"| {name} | {seconds * 1e6:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
