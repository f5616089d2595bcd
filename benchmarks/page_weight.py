"""Bytes over the wire for one questionnaire page and every asset it references.

The DESIGN budget is 30 KB in total with no third-party resources. The page
is fetched as a phone would (``Accept-Encoding: gzip``); each body is counted
as sent (compressed when the server compresses it), and headers are reported
beside it. CSS is followed for ``url()`` and ``@import``.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

BUDGET_BYTES = 30 * 1024
CSS_URL = re.compile(r"""url\(\s*['"]?([^'")]+)['"]?\s*\)|@import\s+['"]([^'"]+)['"]""")


class AssetLinks(HTMLParser):
    """The URLs a browser would fetch to show the page (stylesheets, scripts, images...)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if tag == "link" and values.get("href"):
            rel = values.get("rel", "").lower().split()
            if {"stylesheet", "icon", "preload", "modulepreload", "manifest"} & set(rel):
                self.urls.append(values["href"])
        elif tag in ("script", "img", "iframe", "source", "audio", "video") and values.get("src"):
            self.urls.append(values["src"])


@dataclass
class Fetched:
    url: str
    status: int
    encoding: str
    content_type: str
    body_bytes: int
    header_bytes: int


@dataclass
class Weight:
    items: list[Fetched] = field(default_factory=list)
    third_party: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        body = sum(item.body_bytes for item in self.items)
        headers = sum(item.header_bytes for item in self.items)
        return {
            "total_body_bytes": body,
            "total_header_bytes": headers,
            "total_bytes": body + headers,
            "budget_bytes": BUDGET_BYTES,
            "within_budget": body + headers <= BUDGET_BYTES and not self.third_party,
            "third_party": self.third_party,
            "items": [vars(item) for item in self.items],
        }


def fetch(client: httpx.Client, url: str) -> tuple[Fetched, bytes]:
    """One request; the wire size is what came off the socket, before decompression."""
    with client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as response:
        raw = b"".join(response.iter_raw())
        status_line = f"HTTP/1.1 {response.status_code} {response.reason_phrase}\r\n"
        header_bytes = len(status_line) + 2
        header_bytes += sum(len(k) + len(v) + 4 for k, v in response.headers.raw)
        content = response.headers.get("content-encoding", "identity")
        text = _decoded(raw, content)
        kind = response.headers.get("content-type", "").split(";")[0].strip()
        item = Fetched(url, response.status_code, content, kind, len(raw), header_bytes)
        return item, text


def _decoded(raw: bytes, encoding: str) -> bytes:
    return gzip.decompress(raw) if encoding == "gzip" else raw


def measure(base_url: str, path: str) -> Weight:
    weight = Weight()
    origin = urlsplit(base_url).netloc
    seen: set[str] = set()
    with httpx.Client(timeout=30) as client:
        page, html = fetch(client, urljoin(base_url, path))
        if page.status != 200:
            raise RuntimeError(f"GET {path} answered {page.status}")
        weight.items.append(page)
        parser = AssetLinks()
        parser.feed(html.decode("utf-8", errors="replace"))
        queue = [urljoin(page.url, link) for link in parser.urls]
        while queue:
            url = queue.pop(0)
            if url in seen or url.startswith("data:"):
                continue
            seen.add(url)
            if urlsplit(url).netloc != origin:
                weight.third_party.append(url)
                continue
            item, body = fetch(client, url)
            weight.items.append(item)
            if item.content_type == "text/css":
                text = body.decode("utf-8", errors="replace")
                queue += [urljoin(url, a or b) for a, b in CSS_URL.findall(text)]
    return weight
