"""The client side of ``studioflow generate``: queue a batch from a prompts file, follow its
event stream with a progress bar (reconnecting with Last-Event-ID), download the results.

The request carries an Idempotency-Key made from the workflow and the file's bytes, so
running the same command again within 24 hours follows the same execution instead of paying
for a second one.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from studioflow.models.studio import FINISHED_EXECUTION
from studioflow.platform.answers import describe

TERMINAL = {str(status) for status in FINISHED_EXECUTION}


class GenerateError(Exception):
    pass


@dataclass
class Outcome:
    execution_id: str
    status: str
    completed: int = 0
    failed: int = 0
    total: int = 0
    files: list[Path] = field(default_factory=list)


def sse_events(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    """Events from an SSE line stream (comments and retry hints skipped)."""
    fields: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "id" in fields and "event" in fields:
                yield {
                    "id": int(fields["id"]),
                    "event": fields["event"],
                    "data": json.loads(fields.get("data") or "{}"),
                }
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields[name] = value[1:] if value.startswith(" ") else value


def generate(
    prompts_file: Path,
    *,
    workflow: str,
    server: str,
    api_key: str,
    aspect_ratio: str | None,
    wait: bool,
    out: Path | None,
    console: Console,
) -> Outcome:
    text = prompts_file.read_text(encoding="utf-8")
    headers = {
        "X-API-Key": api_key,
        "Idempotency-Key": "cli-"
        + hashlib.sha256(f"{workflow}\n{aspect_ratio}\n{text}".encode()).hexdigest()[:40],
    }
    body: dict[str, Any] = {"prompts_text": text}
    if aspect_ratio:
        body["config"] = {"aspect_ratio": aspect_ratio}
    with httpx.Client(base_url=server, headers=headers, timeout=httpx.Timeout(60.0)) as http:
        response = http.post(f"/api/v1/workflows/{workflow}/execute", json=body)
        if response.status_code != 202:
            raise GenerateError(describe(response))
        queued = response.json()
        outcome = Outcome(
            execution_id=queued["execution_id"], status=queued["status"], total=queued["total"]
        )
        if response.headers.get("Idempotent-Replayed") == "true":
            # The same file through the same workflow ran before: the server answered with
            # that run (nothing charged again). Say where it stands now.
            now = http.get(f"/api/v1/executions/{outcome.execution_id}")
            if now.status_code != 200:
                raise GenerateError(describe(now))
            state = now.json()
            outcome.status = state["status"]
            progress_now = state["progress"]
            outcome.completed, outcome.failed = progress_now["completed"], progress_now["failed"]
            console.print(
                f"execution {outcome.execution_id} ran this file before (nothing charged "
                f"again): it is {outcome.status}"
                + (
                    ", downloading its results"
                    if out is not None and outcome.status in TERMINAL
                    else ""
                )
            )
        else:
            console.print(
                f"execution {outcome.execution_id}: {outcome.total} prompts, "
                f"{queued['credits_reserved']} credits reserved"
            )
        if not (wait or out):
            return outcome
        if outcome.status not in TERMINAL:
            _follow(http, outcome, console)
        if out is not None:
            outcome.files = _download(http, outcome.execution_id, out)
    return outcome


def _follow(http: httpx.Client, outcome: Outcome, console: Console) -> None:
    last = 0
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task("generating", total=outcome.total, failed=0)
        failures = 0
        while outcome.status not in TERMINAL:
            try:
                with http.stream(
                    "GET",
                    f"/api/v1/executions/{outcome.execution_id}/events",
                    headers={"Last-Event-ID": str(last), "Accept": "text/event-stream"},
                    timeout=httpx.Timeout(60.0, read=60.0),
                ) as stream:
                    if stream.status_code != 200:
                        stream.read()
                        raise GenerateError(describe(stream))
                    for event in sse_events(stream.iter_lines()):
                        last = event["id"]
                        data = event["data"]
                        if "total" in data:
                            outcome.completed, outcome.failed = data["completed"], data["failed"]
                            outcome.total = data["total"]
                            done = data["completed"] + data["failed"] + data["cancelled"]
                            progress.update(
                                bar, completed=done, total=data["total"], failed=data["failed"]
                            )
                        if event["event"] in TERMINAL:
                            outcome.status = event["event"]
                            break
                failures = 0
            except httpx.TransportError as error:
                # The stream dropped: reconnect and resume after the last event we saw.
                failures += 1
                if failures > 10:
                    raise GenerateError(f"lost the event stream: {error}") from None
                time.sleep(min(5.0, 0.5 * failures))


def _download(http: httpx.Client, execution_id: str, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile() as spool:
        with http.stream("GET", f"/api/v1/executions/{execution_id}/download") as response:
            if response.status_code != 200:
                response.read()
                raise GenerateError(describe(response))
            for chunk in response.iter_bytes():
                spool.write(chunk)
        spool.seek(0)
        with zipfile.ZipFile(spool) as archive:
            names = [n for n in archive.namelist() if "/" not in n and not n.startswith(".")]
            for name in names:
                (out / name).write_bytes(archive.read(name))
    return [out / name for name in sorted(names)]
