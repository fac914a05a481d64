"""Object storage: a local folder or any S3-compatible store, through one code path (obstore).

Writes are atomic on both backends: a local write goes to a staging file that is renamed into
place, an S3 write is a single PUT or a multipart upload completed at the end, so no reader
ever sees half an object. Reads stream. Signed URLs are presigned S3 URLs at scale; for the
local folder they point at this app's ``/files/…`` route with an HMAC signature.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

import obstore
from obstore.exceptions import NotFoundError
from obstore.store import LocalStore, S3Store

from studioflow.platform.security import derive_key

_KEY_PART = re.compile(r"^[A-Za-z0-9._=@+-]+$")
MAX_KEY_LENGTH = 900
STREAM_CHUNK = 256 * 1024
LOCAL_READ_CHUNK = 1024 * 1024


class StorageKeyError(ValueError):
    """A key that could escape its prefix or that S3 and a file system would treat differently."""


class ObjectNotFound(LookupError):
    pass


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    etag: str | None
    last_modified: datetime


def validate_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or key.startswith("/") or key.endswith("/"):
        raise StorageKeyError(f"invalid storage key {key!r}")
    for part in key.split("/"):
        if part in {"", ".", ".."} or not _KEY_PART.match(part):
            raise StorageKeyError(f"invalid storage key {key!r}")
    return key


def _put_file(store: Any, key: str, path: Path) -> tuple[Any, int]:
    """Blocking: a local file into the local store, and its size."""
    return obstore.put(store, key, path), path.stat().st_size


# Signs an S3 PUT of (key, content type, length) valid for some seconds: a presigned URL.
PutSigner = Callable[[str, str, int, int], str]
UPLOAD_PREFIX = "uploads/"


@dataclass(frozen=True)
class UploadTarget:
    """Where a client sends an object's bytes itself, and the headers it must send."""

    url: str
    headers: dict[str, str]


class Storage:
    def __init__(
        self,
        store: Any,
        *,
        kind: str,
        signing_key: bytes,
        base_url: str,
        put_signer: PutSigner | None = None,
    ) -> None:
        self.store = store
        self.kind = kind
        self._signing_key = signing_key
        self._base_url = base_url.rstrip("/")
        self._put_signer = put_signer

    # Writing -----------------------------------------------------------------------------

    async def put(
        self,
        key: str,
        data: bytes | Path | AsyncIterable[bytes],
        *,
        content_type: str | None = None,
    ) -> ObjectInfo:
        """Write an object atomically; a failure part-way leaves nothing behind."""
        validate_key(key)
        # The local file system keeps no attributes; readers derive the type from the key.
        attributes = {"Content-Type": content_type} if content_type and self.kind == "s3" else None
        if isinstance(data, bytes | Path):
            if isinstance(data, Path) and self.kind == "local":
                # Local files through obstore's blocking call in a worker thread: its async
                # call read the source in the event loop's thread (bench/README.md, "Load").
                result, size = await asyncio.to_thread(_put_file, self.store, key, data)
            else:
                result = await obstore.put_async(self.store, key, data, attributes=attributes)
                size = (
                    len(data)
                    if isinstance(data, bytes)
                    else (await asyncio.to_thread(data.stat)).st_size
                )
            # The size is known and the store answered the tag: no HEAD round trip (two per
            # image, on S3 a request each, for an answer nobody needed).
            return ObjectInfo(
                key=key, size=size, etag=result.get("e_tag"), last_modified=datetime.now(UTC)
            )
        else:
            # Multipart upload (S3) or staged file (local): visible only once complete, and
            # aborted by obstore when the iterator raises.
            await obstore.put_async(
                self.store, key, data, attributes=attributes, chunk_size=5 * 1024 * 1024
            )
        info = await self.head(key)
        if info is None:  # pragma: no cover - the store just acknowledged the write
            raise ObjectNotFound(key)
        return info

    async def delete(self, key: str) -> None:
        """Delete an object; deleting a missing object is not an error (idempotent jobs)."""
        validate_key(key)
        try:
            await obstore.delete_async(self.store, key)
        except (NotFoundError, FileNotFoundError):
            return

    # Reading -----------------------------------------------------------------------------

    async def head(self, key: str) -> ObjectInfo | None:
        validate_key(key)
        try:
            meta = await obstore.head_async(self.store, key)
        except (NotFoundError, FileNotFoundError):
            return None
        return ObjectInfo(
            key=key, size=meta["size"], etag=meta.get("e_tag"), last_modified=meta["last_modified"]
        )

    async def exists(self, key: str) -> bool:
        return await self.head(key) is not None

    async def read(self, key: str) -> bytes:
        """Whole object in memory: only for small objects (manifests, thumbnails)."""
        chunks = [chunk async for chunk in self.stream(key)]
        return b"".join(chunks)

    async def stream(
        self, key: str, *, start: int | None = None, end: int | None = None
    ) -> AsyncIterator[bytes]:
        """Stream an object, or the byte range [start, end) of it, in bounded chunks."""
        validate_key(key)
        if self.kind == "local":
            async for chunk in self._stream_local(key, start, end):
                yield chunk
            return
        options: dict[str, Any] = {}
        if start is not None or end is not None:
            if end is None:
                options["range"] = {"offset": start or 0}
            else:
                options["range"] = (start or 0, end)
        try:
            result = await obstore.get_async(self.store, key, options=options or None)  # type: ignore[arg-type]
        except (NotFoundError, FileNotFoundError) as error:
            raise ObjectNotFound(key) from error
        async for chunk in result.stream(min_chunk_size=STREAM_CHUNK):
            yield bytes(chunk)

    async def _stream_local(
        self, key: str, start: int | None, end: int | None
    ) -> AsyncIterator[bytes]:
        # obstore's byte stream reads local files in small pieces (about 3 ms per MiB here);
        # ranged reads of one chunk each are ~15x faster and keep memory just as bounded.
        info = await self.head(key)
        if info is None:
            raise ObjectNotFound(key)
        position = start or 0
        stop = info.size if end is None else min(end, info.size)
        while position < stop:
            upto = min(position + LOCAL_READ_CHUNK, stop)
            try:
                chunk = await obstore.get_range_async(self.store, key, start=position, end=upto)
            except (NotFoundError, FileNotFoundError) as error:
                raise ObjectNotFound(key) from error
            yield bytes(chunk)
            position = upto

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        stream = obstore.list(self.store, prefix=prefix or None, chunk_size=500)
        async for batch in stream:
            for meta in batch:
                yield ObjectInfo(
                    key=meta["path"],
                    size=meta["size"],
                    etag=meta.get("e_tag"),
                    last_modified=meta["last_modified"],
                )

    # Signed URLs -------------------------------------------------------------------------

    async def signed_url(self, key: str, *, expires_in: timedelta) -> str:
        validate_key(key)
        if self.kind == "s3":
            url: str = await obstore.sign_async(self.store, "GET", key, expires_in)
            return url
        expires = int(time.time() + expires_in.total_seconds())
        query = urlencode({"expires": expires, "signature": self._signature(key, expires)})
        return f"{self._base_url}/files/{quote(key)}?{query}"

    def upload_target(
        self, key: str, *, content_type: str, length: int, expires_in: timedelta
    ) -> UploadTarget:
        """A URL the client PUTs exactly ``length`` bytes of ``content_type`` to, until
        ``expires_in`` from now. S3: a presigned PUT whose signature covers Content-Length
        and Content-Type, so the store refuses any other size or type. Local: this app's
        ``PUT /uploads/…`` route (the upload role), signed over the same four things."""
        validate_key(key)
        if not key.startswith(UPLOAD_PREFIX):
            raise StorageKeyError("direct uploads go under uploads/")
        seconds = int(expires_in.total_seconds())
        headers = {"Content-Type": content_type, "Content-Length": str(length)}
        if self.kind == "s3":
            if self._put_signer is None:  # pragma: no cover - create_storage always sets it
                raise RuntimeError("no S3 signer")
            return UploadTarget(self._put_signer(key, content_type, length, seconds), headers)
        expires = int(time.time()) + seconds
        signature = self._upload_signature(key, content_type, length, expires)
        query = urlencode({"expires": expires, "signature": signature})
        return UploadTarget(f"{self._base_url}/{quote(key)}?{query}", headers)

    @property
    def upload_origin(self) -> str | None:
        """The origin direct uploads are PUT to when it is not this site (S3): pages must be
        allowed to connect to it (the CSP's connect-src)."""
        if self.kind != "s3" or self._put_signer is None:
            return None
        parts = urlsplit(self._put_signer(UPLOAD_PREFIX + "probe", "image/png", 1, 60))
        return f"{parts.scheme}://{parts.netloc}"

    def verify_upload_signature(
        self, key: str, content_type: str, length: int, expires: int, signature: str
    ) -> bool:
        if expires < time.time() or not key.startswith(UPLOAD_PREFIX):
            return False
        expected = self._upload_signature(key, content_type, length, expires)
        return hmac.compare_digest(expected, signature)

    def _upload_signature(self, key: str, content_type: str, length: int, expires: int) -> str:
        message = f"PUT\n{key}\n{content_type}\n{length}\n{expires}".encode()
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()

    def verify_local_signature(self, key: str, expires: int, signature: str) -> bool:
        if expires < time.time():
            return False
        return hmac.compare_digest(self._signature(unquote(key), expires), signature)

    def _signature(self, key: str, expires: int) -> str:
        message = f"{key}\n{expires}".encode()
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()

    async def ping(self) -> None:
        """Answer whether the store is reachable: a HEAD that may well say 'not found'."""
        await self.head(".ready-probe")

    async def close(self) -> None:
        return None


def create_storage(
    url: str,
    *,
    secret: str,
    base_url: str,
    s3_endpoint_url: str | None = None,
    s3_region: str = "us-east-1",
    s3_access_key_id: str | None = None,
    s3_secret_access_key: str | None = None,
) -> Storage:
    parts = urlsplit(url)
    signing_key = derive_key(secret, "storage-url")
    if parts.scheme == "file":
        root = Path(unquote(parts.path))
        root.mkdir(parents=True, exist_ok=True)
        store: Any = LocalStore(prefix=root, mkdir=True, automatic_cleanup=False)
        return Storage(store, kind="local", signing_key=signing_key, base_url=base_url)
    if parts.scheme == "s3":
        config: dict[str, Any] = {"region": s3_region}
        if s3_access_key_id and s3_secret_access_key:
            config["access_key_id"] = s3_access_key_id
            config["secret_access_key"] = s3_secret_access_key
        client_options: dict[str, Any] = {"timeout": "60s", "connect_timeout": "5s"}
        if s3_endpoint_url:
            config["endpoint"] = s3_endpoint_url
            # MinIO, moto and most self-hosted stores want path-style addressing.
            config["virtual_hosted_style_request"] = False
            if s3_endpoint_url.startswith("http://"):
                client_options["allow_http"] = True
        prefix = parts.path.strip("/") or None
        signer = _s3_put_signer(
            parts.netloc,
            prefix,
            endpoint=s3_endpoint_url,
            region=s3_region,
            key_id=s3_access_key_id,
            secret=s3_secret_access_key,
        )
        store = S3Store(
            parts.netloc,
            prefix=prefix,
            config=config,  # type: ignore[arg-type]
            client_options=client_options,  # type: ignore[arg-type]
        )
        return Storage(
            store, kind="s3", signing_key=signing_key, base_url=base_url, put_signer=signer
        )
    raise ValueError(f"unsupported storage URL scheme {parts.scheme!r}")


def _s3_put_signer(
    bucket: str,
    prefix: str | None,
    *,
    endpoint: str | None,
    region: str,
    key_id: str | None,
    secret: str | None,
) -> PutSigner:
    """Presigned PUTs by botocore (obstore's signer covers the host only, so it cannot
    bind the size). Signing is local computation: no request is made. Credentials as given,
    else botocore's own chain (environment, instance role), as obstore finds them."""
    from botocore.config import Config
    from botocore.session import get_session

    client = get_session().create_client(
        "s3",
        region_name=region,
        endpoint_url=endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if endpoint else "auto"},
        ),
    )

    def sign(key: str, content_type: str, length: int, seconds: int) -> str:
        url: str = client.generate_presigned_url(
            "put_object",
            Params={
                "Bucket": bucket,
                "Key": f"{prefix}/{key}" if prefix else key,
                "ContentType": content_type,
                "ContentLength": length,
            },
            ExpiresIn=seconds,
        )
        return url

    return sign
