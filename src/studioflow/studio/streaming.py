"""What the studio streams: Server-Sent Events of an execution, and the ZIP of its results.

SSE: subscribe to the live channel first, then replay from the database everything after
``Last-Event-ID``, then forward live messages. A gap in the live ids (a dropped message, a
slow consumer) sends us back to the database, so no event is lost or repeated.

ZIP: one result is read from storage at a time and streamed out through zipstream-ng, so the
archive is never built in memory or on disk.
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from zipstream import ZipStream

from studioflow.media.sniff import EXTENSION
from studioflow.media.urls import signed_url
from studioflow.platform.runtime import Platform
from studioflow.studio import live
from studioflow.studio.repository import EngineRepository

KEEPALIVE_SECONDS = 15.0


def sse_message(platform: Platform, event: dict[str, Any]) -> str:
    data = dict(event["data"])
    if data.get("image_id"):
        data["result_url"] = signed_url(platform, uuid.UUID(data["image_id"]))
    return f"id: {event['id']}\nevent: {event['event']}\ndata: {json.dumps(data)}\n\n"


async def execution_events(
    platform: Platform, request: Request, execution_id: uuid.UUID, last: int
) -> AsyncIterator[str]:
    async with platform.events.subscribe(live.channel(execution_id)) as subscription:
        yield "retry: 2000\n\n"
        while True:
            async with platform.db.read() as session:
                backlog = await live.events_after(session, execution_id, last)
                status = await EngineRepository(session).status(execution_id)
            for event in backlog:
                yield sse_message(platform, event)
                last = event["id"]
                if event["event"] in live.TERMINAL_EVENTS:
                    return
            if len(backlog) >= 1000:
                continue  # more stored events than one read: keep replaying
            if status in live.TERMINAL_EVENTS and not backlog:
                return  # reconnected after the end: nothing more will come
            while True:
                message = await subscription.get(timeout=KEEPALIVE_SECONDS)
                if await request.is_disconnected():
                    return
                if message is None:
                    yield ": keep-alive\n\n"
                    break  # and look at the database again, in case a message was missed
                if message["id"] <= last:
                    continue
                if message["id"] != last + 1:
                    break  # a gap: replay from the database
                yield sse_message(platform, message)
                last = message["id"]
                if message["event"] in live.TERMINAL_EVENTS:
                    return


@dataclass(frozen=True)
class ZipEntry:
    index: int
    prompt: str
    status: str
    error: str | None
    key: str | None
    name: str | None


async def zip_entries(session: Any, execution_id: uuid.UUID) -> list[ZipEntry]:
    rows = await EngineRepository(session).items_with_images(execution_id)
    entries = []
    for item, image in rows:
        name = None
        if image is not None and item.status == "completed":
            name = f"{item.index + 1:03d}.{EXTENSION.get(image.format, 'png')}"
        entries.append(
            ZipEntry(
                index=item.index + 1,
                prompt=item.prompt,
                status=item.status,
                error=item.error,
                key=image.original_key if image is not None else None,
                name=name,
            )
        )
    return entries


# What a spreadsheet takes for the start of a formula (OWASP, "CSV injection"): a cell that
# starts with one gets a leading apostrophe, which shows as text and computes nothing.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert_cell(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def manifest_csv(entries: list[ZipEntry]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["index", "prompt", "status", "file", "error"])
    for entry in entries:
        writer.writerow(
            [
                entry.index,
                inert_cell(entry.prompt),
                entry.status,
                entry.name or "",
                inert_cell(entry.error or ""),
            ]
        )
    return out.getvalue().encode()


async def zip_stream(platform: Platform, entries: list[ZipEntry]) -> AsyncIterator[bytes]:
    archive = ZipStream(sized=False)
    archive.add(manifest_csv(entries), "manifest.csv")
    for chunk in archive.all_files():
        yield chunk
    for entry in entries:
        if entry.key is None or entry.name is None:
            continue
        data = await platform.storage.read(entry.key)
        archive.add(data, entry.name)
        for chunk in archive.all_files():
            yield chunk
        del data
    for chunk in archive.footer():
        yield chunk
