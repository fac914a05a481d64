"""Object storage on both backends: a local folder and S3 (moto on loopback)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from studioflow.platform.storage import (
    ObjectNotFound,
    Storage,
    StorageKeyError,
    create_storage,
    validate_key,
)
from tests.conftest import TEST_SECRET, S3Server, new_bucket


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return create_storage(
            (tmp_path / "store").as_uri(), secret=TEST_SECRET, base_url="http://testserver"
        )
    s3: S3Server = request.getfixturevalue("s3_server")
    return create_storage(
        f"s3://{new_bucket(s3)}",
        secret=TEST_SECRET,
        base_url="http://testserver",
        s3_endpoint_url=s3.endpoint,
        s3_access_key_id=s3.access_key,
        s3_secret_access_key=s3.secret_key,
    )


async def keys(storage: Storage, prefix: str = "") -> list[str]:
    return sorted([info.key async for info in storage.list(prefix)])


async def test_put_head_read_delete(storage: Storage) -> None:
    info = await storage.put("clients/c1/a.txt", b"hello world", content_type="text/plain")
    assert info.size == 11
    head = await storage.head("clients/c1/a.txt")
    assert head is not None and head.size == 11 and head.last_modified.tzinfo is not None
    assert await storage.read("clients/c1/a.txt") == b"hello world"
    await storage.delete("clients/c1/a.txt")
    assert await storage.head("clients/c1/a.txt") is None
    await storage.delete("clients/c1/a.txt")  # idempotent


async def test_stream_in_chunks_and_ranges(storage: Storage) -> None:
    data = os.urandom(1024 * 1024 + 123)
    await storage.put("big.bin", data)
    chunks = [chunk async for chunk in storage.stream("big.bin")]
    assert b"".join(chunks) == data
    part = b"".join([c async for c in storage.stream("big.bin", start=10, end=20)])
    assert part == data[10:20]
    tail = b"".join([c async for c in storage.stream("big.bin", start=len(data) - 5)])
    assert tail == data[-5:]


async def test_put_from_a_file_and_from_a_stream(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "upload.bin"
    source.write_bytes(b"from a file")
    await storage.put("f/file.bin", source)
    assert await storage.read("f/file.bin") == b"from a file"

    async def body() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b"x" * (2 * 1024 * 1024)

    info = await storage.put("f/stream.bin", body())
    assert info.size == 6 * 1024 * 1024


async def test_missing_object(storage: Storage) -> None:
    assert await storage.head("nope/missing.bin") is None
    with pytest.raises(ObjectNotFound):
        await storage.read("nope/missing.bin")


async def test_failed_streaming_write_leaves_nothing(storage: Storage) -> None:
    seen_midway: list[list[str]] = []

    async def broken() -> AsyncIterator[bytes]:
        yield b"a" * (6 * 1024 * 1024)
        await asyncio.sleep(0.05)
        # While the write is in flight, no reader may see the object.
        seen_midway.append(await keys(storage, "partial"))
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await storage.put("partial/upload.bin", broken())
    assert seen_midway == [[]]
    assert await storage.head("partial/upload.bin") is None
    assert await keys(storage, "partial") == []
    if storage.kind == "local":
        leftovers = [p.name for p in Path(storage.store.prefix).rglob("*") if p.is_file()]
        assert leftovers == [], "a staging file was left behind"


async def test_overwrite_is_atomic(storage: Storage) -> None:
    await storage.put("o/obj", b"first version")
    await storage.put("o/obj", b"second")
    assert await storage.read("o/obj") == b"second"


async def test_list_by_prefix(storage: Storage) -> None:
    for key in ("p/a/1", "p/a/2", "p/b/1", "q/1"):
        await storage.put(key, b"x")
    assert await keys(storage, "p/a") == ["p/a/1", "p/a/2"]
    assert len(await keys(storage, "p")) == 3


@pytest.mark.parametrize(
    "key", ["../etc/passwd", "a/../../b", "/abs", "a//b", "a/./b", "", "trailing/", "a\\b", "é"]
)
def test_hostile_keys_are_refused(key: str) -> None:
    with pytest.raises(StorageKeyError):
        validate_key(key)


async def test_signed_url_s3_is_presigned(request: pytest.FixtureRequest) -> None:
    s3: S3Server = request.getfixturevalue("s3_server")
    storage = create_storage(
        f"s3://{new_bucket(s3)}",
        secret=TEST_SECRET,
        base_url="http://testserver",
        s3_endpoint_url=s3.endpoint,
        s3_access_key_id=s3.access_key,
        s3_secret_access_key=s3.secret_key,
    )
    await storage.put("signed/x.txt", b"presigned body")
    url = await storage.signed_url("signed/x.txt", expires_in=timedelta(minutes=5))
    assert "X-Amz-Signature" in url
    async with httpx.AsyncClient() as http:
        assert (await http.get(url)).content == b"presigned body"
        tampered = url.replace("signed/x.txt", "signed/y.txt")
        assert (await http.get(tampered)).status_code in (403, 404)


async def test_local_signed_url_served_by_the_app(client: httpx.AsyncClient, platform) -> None:  # type: ignore[no-untyped-def]
    if platform.storage.kind != "local":
        pytest.skip("S3 presigned URLs are served by the store itself")
    await platform.storage.put("clients/c1/photo.png", b"\x89PNG fake")
    url = await platform.storage.signed_url("clients/c1/photo.png", expires_in=timedelta(minutes=5))
    path = url.removeprefix("http://testserver")
    response = await client.get(path)
    assert response.status_code == 200
    assert response.content == b"\x89PNG fake"
    assert response.headers["content-type"] == "image/png"
    assert "sandbox" in response.headers["content-security-policy"]

    query = parse_qs(urlsplit(path).query)
    base = urlsplit(path).path
    tampered = await client.get(
        f"/files/clients/c2/photo.png?expires={query['expires'][0]}&signature={query['signature'][0]}"
    )
    assert tampered.status_code == 404
    expired = await client.get(f"{base}?expires=1&signature={query['signature'][0]}")
    assert expired.status_code == 404
    unsigned = await client.get(base)
    assert unsigned.status_code == 422


async def test_text_objects_download_instead_of_rendering(
    client: httpx.AsyncClient, platform
) -> None:  # type: ignore[no-untyped-def]
    if platform.storage.kind != "local":
        pytest.skip("local storage route only")
    await platform.storage.put("x/page.html", b"<script>alert(1)</script>")
    url = await platform.storage.signed_url("x/page.html", expires_in=timedelta(minutes=1))
    response = await client.get(url.removeprefix("http://testserver"))
    assert response.headers["content-disposition"] == "attachment"
