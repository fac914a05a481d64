"""Albums, client image settings, hotlink protection, /info and /embed."""

from __future__ import annotations

import io

import httpx
import pytest

from studioflow.media.delivery_rules import referrer_allowed
from studioflow.platform.runtime import Platform
from tests.factories import create_account
from tests.identity.helpers import Account
from tests.media import images


@pytest.fixture
async def owner(client: httpx.AsyncClient, platform: Platform) -> Account:
    return await create_account(client, platform, "sharer@example.com")


async def put(client: httpx.AsyncClient, owner: Account, **form: str) -> dict:  # type: ignore[type-arg]
    data = images.noise_png((31, 20))  # unique bytes each time: no deduplication
    response = await client.post(
        "/upload", files={"file": ("s.png", data, "image/png")}, data=form, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    return response.json()["image"]  # type: ignore[no-any-return]


async def test_albums(client: httpx.AsyncClient, owner: Account) -> None:
    album = (
        await client.post("/api/v1/albums", json={"title": "Trips"}, headers=owner.headers)
    ).json()
    image = await put(client, owner, album_id=album["id"])
    listed = (await client.get("/api/v1/albums", headers=owner.headers)).json()["items"]
    assert listed == [
        {"id": album["id"], "title": "Trips", "images": 1, "created_at": album["created_at"]}
    ]
    in_album = (
        await client.get(f"/api/v1/images?album={album['id']}", headers=owner.headers)
    ).json()["items"]
    assert [i["id"] for i in in_album] == [image["id"]]
    # The albums page shows each album with its newest image as the cover and its count.
    newer = await put(client, owner, album_id=album["id"])
    login = await client.post(
        "/api/v1/auth/login", json={"identifier": owner.email, "password": owner.password}
    )
    assert login.status_code == 200
    page = await client.get("/albums")
    assert page.status_code == 200 and "2 images" in page.text
    assert f"/i/{newer['id']}" in page.text and f"/i/{image['id']}" not in page.text
    client.cookies.clear()
    renamed = await client.patch(
        f"/api/v1/albums/{album['id']}", json={"title": "Travels"}, headers=owner.headers
    )
    assert renamed.json()["title"] == "Travels" and renamed.json()["images"] == 2
    assert (
        await client.delete(f"/api/v1/albums/{album['id']}", headers=owner.headers)
    ).status_code == 204
    assert (await client.get(f"/api/v1/images/{image['id']}", headers=owner.headers)).json()[
        "album_id"
    ] is None


async def test_an_image_in_several_albums(client: httpx.AsyncClient, owner: Account) -> None:
    async def album(title: str) -> str:
        made = await client.post("/api/v1/albums", json={"title": title}, headers=owner.headers)
        assert made.status_code == 201
        return made.json()["id"]  # type: ignore[no-any-return]

    trips, faces, best = await album("Trips"), await album("Faces"), await album("Best")
    first = await put(client, owner, album_id=trips)
    more = [await put(client, owner) for _ in range(3)]
    ids = [first["id"], *(i["id"] for i in more)]
    # Many at once: the first is in Trips already and stays there, once.
    added = await client.post(
        f"/api/v1/albums/{faces}/images", json={"image_ids": ids}, headers=owner.headers
    )
    assert added.status_code == 200, added.text
    assert added.json()["changed"] == 4 and added.json()["album"]["images"] == 4
    again = await client.post(
        f"/api/v1/albums/{trips}/images", json={"image_ids": ids[:2]}, headers=owner.headers
    )
    assert again.json()["changed"] == 1 and again.json()["album"]["images"] == 2
    record = (await client.get(f"/api/v1/images/{first['id']}", headers=owner.headers)).json()
    assert record["album_ids"] == [trips, faces] and record["album_id"] == trips
    counts = {
        a["title"]: a["images"]
        for a in (await client.get("/api/v1/albums", headers=owner.headers)).json()["items"]
    }
    assert counts == {"Trips": 2, "Faces": 4, "Best": 0}
    in_faces = (await client.get(f"/api/v1/images?album={faces}", headers=owner.headers)).json()[
        "items"
    ]
    assert sorted(i["id"] for i in in_faces) == sorted(ids)
    assert {i["id"]: i["album_ids"] for i in in_faces}[ids[1]] == [faces, trips]

    # The whole set by PATCH; the one-album form puts it in that album alone.
    patched = await client.patch(
        f"/api/v1/images/{first['id']}", json={"album_ids": [best, faces]}, headers=owner.headers
    )
    assert patched.status_code == 200 and patched.json()["album_ids"] == [faces, best]
    alone = await client.patch(
        f"/api/v1/images/{first['id']}", json={"album_id": trips}, headers=owner.headers
    )
    assert alone.json()["album_ids"] == [trips]
    both = await client.patch(
        f"/api/v1/images/{first['id']}",
        json={"album_id": trips, "album_ids": [faces]},
        headers=owner.headers,
    )
    assert both.status_code == 422 and both.json()["code"] == "validation_error"

    # Out of one album: the images stay in the library and in their other albums.
    removed = await client.post(
        f"/api/v1/albums/{faces}/images/remove", json={"image_ids": ids}, headers=owner.headers
    )
    assert removed.json()["changed"] == 3 and removed.json()["album"]["images"] == 0
    second = (await client.get(f"/api/v1/images/{ids[1]}", headers=owner.headers)).json()
    assert second["album_ids"] == [trips]
    # Deleting an album or an image takes only the memberships with it.
    assert (
        await client.delete(f"/api/v1/albums/{trips}", headers=owner.headers)
    ).status_code == 204
    assert (await client.get(f"/api/v1/images/{ids[1]}", headers=owner.headers)).json()[
        "album_ids"
    ] == []
    assert (await client.get(f"/api/v1/images/{ids[1]}", headers=owner.headers)).status_code == 200


async def test_albums_hold_only_their_workspaces_images(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    other = await create_account(client, platform, "other-sharer@example.com")
    mine = (
        await client.post("/api/v1/albums", json={"title": "Mine"}, headers=owner.headers)
    ).json()["id"]
    theirs = (
        await client.post("/api/v1/albums", json={"title": "Theirs"}, headers=other.headers)
    ).json()["id"]
    my_image = (await put(client, owner))["id"]
    their_image = (await put(client, other))["id"]
    # Another workspace's image in my album: 404 and nothing added (all or none).
    mixed = await client.post(
        f"/api/v1/albums/{mine}/images",
        json={"image_ids": [my_image, their_image]},
        headers=owner.headers,
    )
    assert mixed.status_code == 404 and mixed.json()["code"] == "not_found"
    assert (await client.get(f"/api/v1/images/{my_image}", headers=owner.headers)).json()[
        "album_ids"
    ] == []
    # My image in their album, by either route: their album does not exist for me.
    for response in (
        await client.post(
            f"/api/v1/albums/{theirs}/images", json={"image_ids": [my_image]}, headers=owner.headers
        ),
        await client.post(
            f"/api/v1/albums/{theirs}/images/remove",
            json={"image_ids": [their_image]},
            headers=owner.headers,
        ),
        await client.patch(
            f"/api/v1/images/{my_image}", json={"album_ids": [theirs]}, headers=owner.headers
        ),
    ):
        assert response.status_code == 404, response.text
    listed = (await client.get(f"/api/v1/images?album={theirs}", headers=owner.headers)).json()
    assert listed["items"] == []
    empty = await client.post(
        f"/api/v1/albums/{mine}/images", json={"image_ids": []}, headers=owner.headers
    )
    assert empty.status_code == 422


async def test_private_by_default_setting(client: httpx.AsyncClient, owner: Account) -> None:
    changed = await client.patch(
        f"/api/v1/clients/{owner.client_id}",
        json={"images_public_by_default": False},
        headers=owner.headers,
    )
    assert changed.status_code == 200 and changed.json()["images_public_by_default"] is False
    image = await put(client, owner)
    assert (await client.get(f"/i/{image['id']}")).status_code == 404
    explicit = await put(client, owner, is_public="true")
    assert (await client.get(f"/i/{explicit['id']}")).status_code == 200


async def test_hotlink_protection(client: httpx.AsyncClient, owner: Account) -> None:
    image = await put(client, owner)
    path = f"/i/{image['id']}"
    assert (
        await client.get(path, headers={"Referer": "https://anywhere.example/page"})
    ).status_code == 200
    settings = await client.patch(
        f"/api/v1/clients/{owner.client_id}",
        json={"allowed_referrers": ["Shop.Example.com"]},
        headers=owner.headers,
    )
    assert settings.json()["allowed_referrers"] == ["shop.example.com"]
    blocked = await client.get(path, headers={"Referer": "https://thief.example/page"})
    assert blocked.status_code == 403 and blocked.json()["code"] == "hotlink_blocked"
    assert (
        await client.get(path, headers={"Referer": "https://shop.example.com/p/1"})
    ).status_code == 200
    assert (
        await client.get(path, headers={"Referer": "https://cdn.shop.example.com/x"})
    ).status_code == 200
    assert (await client.get(path)).status_code == 200  # no Referer: direct view
    bad = await client.patch(
        f"/api/v1/clients/{owner.client_id}",
        json={"allowed_referrers": ["not a domain"]},
        headers=owner.headers,
    )
    assert bad.status_code == 422


def test_referrer_rules() -> None:
    assert referrer_allowed(None, ["a.com"], "studio.example")
    assert referrer_allowed("https://studio.example/gallery", ["a.com"], "studio.example")
    assert referrer_allowed("https://x.a.com/", ["*.a.com"], None)
    assert not referrer_allowed("https://a.com.evil.net/", ["a.com"], None)
    assert not referrer_allowed("https://evila.com/", ["a.com"], None)


async def test_info_and_embed(client: httpx.AsyncClient, owner: Account) -> None:
    image = await put(client, owner, title="Sunset <script>")
    info = (await client.get(f"/info/{image['id']}")).json()
    assert info["dimensions"] == {"width": 31, "height": 20} and info["mime_type"] == "image/png"
    page = await client.get(f"/embed/{image['id']}")
    assert (
        page.status_code == 200 and "frame-ancestors *" in page.headers["content-security-policy"]
    )
    assert "x-frame-options" not in page.headers
    assert "<script>" not in page.text and "Sunset &lt;script&gt;" in page.text
    oembed = (await client.get(f"/embed/{image['id']}?format=json")).json()
    assert oembed["type"] == "photo" and oembed["url"].endswith(f"/i/{image['id']}")
    private = await put(client, owner, is_public="false")
    assert (await client.get(f"/info/{private['id']}")).status_code == 404
    assert (await client.get(f"/embed/{private['id']}")).status_code == 404


async def test_embeds_honour_the_allowed_sites(client: httpx.AsyncClient, owner: Account) -> None:
    """Framing /embed no longer gets round hotlink protection (issue 12, item 11): the
    image inside the frame carries our own page as its Referer, so the embed itself checks
    the framing page and tells browsers who may frame it."""
    image = await put(client, owner)
    settings = await client.put(
        "/api/v1/settings",
        json={"allowed_referrers": ["shop.example.com"]},
        headers=owner.headers,
    )
    assert settings.status_code == 200
    elsewhere = await client.get(
        f"/embed/{image['id']}", headers={"Referer": "https://evil.example/page"}
    )
    assert elsewhere.status_code == 403 and elsewhere.json()["code"] == "hotlink_blocked"
    allowed = await client.get(
        f"/embed/{image['id']}", headers={"Referer": "https://shop.example.com/p/1"}
    )
    assert allowed.status_code == 200
    policy = allowed.headers["content-security-policy"]
    assert "frame-ancestors 'self' shop.example.com *.shop.example.com" in policy
    assert "frame-ancestors *" not in policy


async def test_share_snippets_escape_the_title_for_their_language(
    client: httpx.AsyncClient, owner: Account
) -> None:
    """A title is pasted into other people's pages with the snippet (issue 12, item 12)."""
    import html

    from studioflow.media.snippets import html_image, markdown_image

    hostile = '"><img src=x onerror=alert(1)> [x](javascript:alert(2))'
    image = await put(client, owner)
    patched = await client.patch(
        f"/api/v1/images/{image['id']}", json={"title": hostile}, headers=owner.headers
    )
    assert patched.status_code == 200
    await client.post(  # pages read the session from cookies, as a browser sends them
        "/api/v1/auth/login", json={"identifier": owner.email, "password": owner.password}
    )
    page = await client.get(f"/images/{image['id']}")
    assert page.status_code == 200
    share = page.text[page.text.index('id="links-h"') :]
    shown = html.unescape(share[: share.index("</section>")])  # the snippets as copied
    assert '"><img src=x' not in shown
    assert 'alt="&quot;&gt;&lt;img src=x onerror=alert(1)&gt;' in shown
    assert r'!["\>\<img src=x onerror=alert\(1\)\> \[x\]\(javascript:alert\(2\)\)]' in shown

    assert html_image('a"b\nc', "https://h/i/1", 2, 3) == (
        '<img src="https://h/i/1" alt="a&quot;b c" width="2" height="3">'
    )
    assert markdown_image("a]b", "https://h/i/1") == "![a\\]b](https://h/i/1)"


async def test_the_owner_sees_the_camera_but_never_the_place(
    client: httpx.AsyncClient, platform: Platform, owner: Account
) -> None:
    """The viewer's camera facts come from the private original: make and model are there,
    the GPS position the original also holds is not; another workspace gets 404."""
    exif = images.exif_with_gps()
    exif[0x0110] = "Model 7"
    exif.get_ifd(0x8769).update({0x829A: 0.004, 0x829D: 2.8, 0x8827: 200})
    buffer = io.BytesIO()
    images.picture((40, 30)).save(buffer, "JPEG", exif=exif.tobytes())
    uploaded = await client.post(
        "/upload",
        files={"file": ("cam.jpg", buffer.getvalue(), "image/jpeg")},
        headers=owner.headers,
    )
    image_id = uploaded.json()["image"]["id"]
    facts = await client.get(f"/api/v1/images/{image_id}/camera", headers=owner.headers)
    assert facts.status_code == 200
    body = facts.json()
    assert body["make"] == "TestCam" and body["model"] == "Model 7"
    assert body["exposure"] == "1/250 s" and body["aperture"] == "f/2.8" and body["iso"] == "200"
    assert not any("48" in v or v == "N" for v in body.values())  # no GPS field at all
    plain = await put(client, owner)
    assert (
        await client.get(f"/api/v1/images/{plain['id']}/camera", headers=owner.headers)
    ).json() == {}
    other = await create_account(client, platform, "nosy@example.com")
    assert (
        await client.get(f"/api/v1/images/{image_id}/camera", headers=other.headers)
    ).status_code == 404
