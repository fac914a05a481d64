"""Finding images: search by title and file name, the sorts and their cursor pages, and the
gallery page's next-page partial (the infinite scroll) with day headings."""

from __future__ import annotations

import httpx
import pytest

from studioflow.platform.runtime import Platform
from tests.factories import create_account
from tests.identity.helpers import Account
from tests.media import images


@pytest.fixture
async def owner(client: httpx.AsyncClient, platform: Platform) -> Account:
    return await create_account(client, platform, "finder@example.com")


async def put(client: httpx.AsyncClient, owner: Account, name: str, size: tuple[int, int]) -> str:
    response = await client.post(
        "/upload",
        files={"file": (name, images.noise_png(size), "image/png")},
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["image"]["id"])


async def test_search_and_sorts_with_cursor_pages(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    ids = {
        name: await put(client, owner, name, size)
        for name, size in [
            ("beach-100%.png", (40, 40)),
            ("Beach_day.png", (80, 60)),
            ("city.png", (20, 20)),
        ]
    }
    found = await client.get("/api/v1/images?q=BEACH", headers=owner.headers)
    assert {i["filename"] for i in found.json()["items"]} == {"beach-100%.png", "Beach_day.png"}
    # % and _ are the text's own, not wildcards.
    literal = await client.get("/api/v1/images?q=100%25", headers=owner.headers)
    assert [i["filename"] for i in literal.json()["items"]] == ["beach-100%.png"]
    underscore = await client.get("/api/v1/images?q=h_d", headers=owner.headers)
    assert [i["filename"] for i in underscore.json()["items"]] == ["Beach_day.png"]

    async def walk(sort: str) -> list[str]:
        seen: list[str] = []
        cursor = None
        while True:
            query = f"/api/v1/images?sort={sort}&limit=2" + (f"&cursor={cursor}" if cursor else "")
            page = (await client.get(query, headers=owner.headers)).json()
            seen += [i["id"] for i in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                return seen

    newest = await walk("newest")
    assert newest == [ids["city.png"], ids["Beach_day.png"], ids["beach-100%.png"]]
    assert await walk("oldest") == list(reversed(newest))
    by_size = (await client.get("/api/v1/images?sort=largest", headers=owner.headers)).json()
    sizes = [i["bytes"] for i in by_size["items"]]
    assert sizes == sorted(sizes, reverse=True) and await walk("largest") == [
        i["id"] for i in by_size["items"]
    ]
    assert await walk("name") == [ids["Beach_day.png"], ids["beach-100%.png"], ids["city.png"]]
    bad = await client.get("/api/v1/images?sort=random", headers=owner.headers)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_sort"


async def test_the_gallery_pages_on_by_partial(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    for n in range(50):
        await put(client, owner, f"shot-{n:02}.png", (10 + n, 10))
    login = await client.post(
        "/api/v1/auth/login", json={"identifier": owner.email, "password": owner.password}
    )
    assert login.status_code == 200
    first = await client.get("/images")
    assert first.status_code == 200
    assert first.text.count('class="gallery-item"') == 48
    assert first.text.count('class="gallery-day"') == 1  # all uploaded today
    assert "data-more" in first.text and "shot-49.png" in first.text
    more = first.text.split('hx-get="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    rest = await client.get(more, headers={"HX-Request": "true"})
    assert rest.status_code == 200 and "<html" not in rest.text  # tiles only
    assert rest.text.count('class="gallery-item"') == 2 and "shot-00.png" in rest.text
    assert 'class="gallery-day"' not in rest.text  # the same day goes on, no new heading
    assert "data-more" not in rest.text
    searched = await client.get("/images?q=shot-4")
    assert searched.text.count('class="gallery-item"') == 10
    client.cookies.clear()


async def test_a_zip_of_chosen_originals(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    import io
    import zipfile

    first = await put(client, owner, "same.png", (30, 30))
    second = await put(client, owner, "same.png", (31, 30))
    other = await create_account(client, platform, "elsewhere@example.com")
    theirs = await put(client, other, "theirs.png", (32, 30))
    response = await client.post(
        "/api/v1/images/archive",
        json={"image_ids": [first, second, theirs]},
        headers=owner.headers,
    )
    assert response.status_code == 200 and response.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert archive.namelist() == ["same.png", "same (2).png"]  # not the other workspace's
    assert archive.read("same.png")[:8] == b"\x89PNG\r\n\x1a\n"
    nothing = await client.post(
        "/api/v1/images/archive", json={"image_ids": [theirs]}, headers=owner.headers
    )
    assert nothing.status_code == 404
    too_many = await client.post(
        "/api/v1/images/archive",
        json={"image_ids": [first] * 201},
        headers=owner.headers,
    )
    assert too_many.status_code == 422
