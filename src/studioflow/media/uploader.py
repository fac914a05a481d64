"""The client side of ``studioflow upload``: walk paths, skip what the server already has (by
SHA-256), upload the rest with a progress bar. Safe to run again on the same folder.

Files from ``DIRECT_FROM`` bytes go as direct uploads (``POST /api/v1/uploads``): the bytes
are PUT to the URL the server signs (S3 itself at scale), then completed; smaller ones go
in one ``POST /upload``, which costs fewer round trips."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from studioflow.media.sniff import MIME, sniff
from studioflow.platform.answers import ServerRefused, describe

BATCH = 500
DIRECT_FROM = 8 * 1024 * 1024


@dataclass
class Outcome:
    uploaded: list[Path] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)
    not_images: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)


def image_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file())
        elif path.is_file():
            yield path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


class _Reading:
    """A file whose reads advance a progress bar (httpx streams it in chunks)."""

    def __init__(self, handle: IO[bytes], advance: Any) -> None:
        self.handle = handle
        self.advance = advance

    def read(self, size: int = -1) -> bytes:
        chunk = self.handle.read(size)
        self.advance(len(chunk))
        return chunk


def upload_paths(
    paths: list[Path],
    *,
    server: str,
    api_key: str,
    album: str | None = None,
    public: bool | None = None,
    console: Console | None = None,
    transport: httpx.BaseTransport | None = None,
    direct_from: int = DIRECT_FROM,
) -> Outcome:
    console = console or Console(stderr=True)
    outcome = Outcome()
    candidates: list[tuple[Path, str]] = []
    for path in image_files(paths):
        with path.open("rb") as handle:
            if sniff(handle.read(64)) is None:
                outcome.not_images.append(path)
                continue
        candidates.append((path, sha256_of(path)))
    headers = {"X-API-Key": api_key}
    # The storage host gets no API key: a second client without it, for the direct PUTs.
    with (
        httpx.Client(
            base_url=server.rstrip("/"), headers=headers, timeout=120.0, transport=transport
        ) as http,
        httpx.Client(timeout=httpx.Timeout(120.0, connect=10.0), transport=transport) as store,
    ):
        known: set[str] = set()
        for start in range(0, len(candidates), BATCH):
            hashes = [h for _, h in candidates[start : start + BATCH]]
            response = http.post("/api/v1/images/known", json={"hashes": hashes})
            if response.status_code != 200:
                raise ServerRefused(response)
            known.update(response.json()["known"])
        todo = [(p, h) for p, h in candidates if h not in known]
        outcome.skipped = [p for p, h in candidates if h in known]
        total = sum(p.stat().st_size for p, _ in todo)
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task(f"{len(todo)} to upload", total=total)
            for path, _ in todo:
                progress.update(task, description=path.name[:40])
                form: dict[str, str] = {}
                if album:
                    form["album_id"] = album
                if public is not None:
                    form["is_public"] = "true" if public else "false"
                with path.open("rb") as handle:
                    # httpx reads any object with read(); the wrapper only counts the bytes.
                    reader: Any = _Reading(handle, lambda n: progress.advance(task, n))
                    if path.stat().st_size >= direct_from:
                        response = _direct(http, store, path, reader, form)
                    else:
                        response = http.post(
                            "/upload",
                            files={"file": (path.name, reader, "application/octet-stream")},
                            data=form,
                        )
                if response.status_code == 201:
                    outcome.uploaded.append(path)
                else:
                    outcome.failed.append((path, describe(response)))
    return outcome


def _direct(
    http: httpx.Client, store: httpx.Client, path: Path, reader: Any, form: dict[str, str]
) -> httpx.Response:
    """A direct upload: start, PUT the bytes to the signed URL, complete. The answer that
    decides (a refusal at any step, or the completed image as 201)."""
    with path.open("rb") as probe:
        fmt = sniff(probe.read(64))
    body: dict[str, Any] = {
        "filename": path.name,
        "content_type": MIME.get(fmt or "", "application/octet-stream"),
        "bytes": path.stat().st_size,
    }
    if "album_id" in form:
        body["album_id"] = form["album_id"]
    if "is_public" in form:
        body["is_public"] = form["is_public"] == "true"
    started = http.post("/api/v1/uploads", json=body)
    if started.status_code != 201:
        return started
    target = started.json()
    sent = store.put(target["upload_url"], content=_chunks(reader), headers=target["headers"])
    if sent.status_code not in (200, 201):
        return sent
    return http.post(f"/api/v1/uploads/{target['upload_id']}/complete")


def _chunks(reader: Any) -> Iterator[bytes]:
    while chunk := reader.read(1024 * 1024):
        yield chunk
