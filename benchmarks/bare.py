"""The reference: a bare Litestar app with one JSON route, nothing else.

``python -m benchmarks.bare --port P`` serves it as ``survey serve`` serves the
service (uvicorn, one worker, the same log configuration and access log), so
the ratio of our ``/livez`` to its ``/livez`` is what our stack costs.
"""

from __future__ import annotations

import argparse

from litestar import Litestar, get


@get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


def create_app() -> Litestar:
    return Litestar(route_handlers=[livez])


def main(argv: list[str] | None = None) -> None:
    import logging.config

    import uvicorn

    from survey_app.cli.server import serve_log_config
    from survey_app.lib.logs import LOG_LEVELS

    p = argparse.ArgumentParser(prog="python -m benchmarks.bare")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    args = p.parse_args(argv)
    config = serve_log_config()
    app = create_app()
    logging.config.dictConfig(config)  # after the app, as survey serve does
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_config=config,
        log_level=LOG_LEVELS["info"],
        proxy_headers=True,
    )


if __name__ == "__main__":
    main()
