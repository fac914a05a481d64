"""Upload two images in the browser, see them in the gallery, open one and its stats."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import TimeoutError as PlaywrightTimeout
from playwright.async_api import expect

from tests.media import images

pytestmark = pytest.mark.e2e


# The demo admin's session cookies per live server: the first test signs in through the
# form, the others start signed in (the server allows 30 sign-ins from one address in 15
# minutes, and every browser test comes from 127.0.0.1).
_SIGNED_IN: dict[str, list[Any]] = {}


async def sign_in_as_demo_admin(page, live_server: str, live_data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    if live_server in _SIGNED_IN:
        await page.context.add_cookies(_SIGNED_IN[live_server])
        await page.goto(live_server + "/admin/studio")
        if "/login" not in page.url:
            return
        del _SIGNED_IN[live_server]  # signed out meanwhile (a test of signing out): again
        await page.context.clear_cookies()
    password = (live_data_dir / "demo-credentials.txt").read_text().split("password: ")[1].strip()
    await page.goto(live_server + "/login")
    await page.get_by_label("Email or username").fill("admin@example.com")
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await page.wait_for_url("**/admin/studio")  # platform admins land on the console
    _SIGNED_IN[live_server] = await page.context.cookies()


async def test_upload_two_files_and_open_stats(
    page, live_server: str, live_data_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    await page.get_by_role("navigation", name="Main").get_by_role("link", name="Images").click()
    await page.wait_for_url("**/images")
    first, second = tmp_path / "sunrise.png", tmp_path / "sunset.jpg"
    first.write_bytes(images.noise_png((120, 80)))
    second.write_bytes(images.encode("JPEG", size=(160, 90), gps=True))
    await page.locator("[data-upload-input]").set_input_files([str(first), str(second)])
    await page.locator(".toast").filter(has_text="Upload finished: 2 images").wait_for()
    # Put in without a reload (other tests of this server may have uploaded before).
    for name in ("sunrise.png", "sunset.jpg"):
        await expect(page.locator("[data-gallery] li", has_text=name)).to_have_count(1)
    await page.get_by_role("link", name="sunset.jpg").click()  # the viewer first
    await page.get_by_role("dialog").get_by_role("link", name="Open page").click()
    await page.get_by_role("heading", name="Views, last 30 days").wait_for()
    assert await page.get_by_role("button", name="Copy Markdown").is_visible()
    # The preview's size is rendered on its first request: wait for it to arrive and decode.
    await page.wait_for_function(
        "() => { const img = document.querySelector('img.preview');"
        " return img !== null && img.complete && img.naturalWidth > 0; }",
        timeout=20_000,
    )
    # The preview request counts as a view once the buffer is flushed; the page says so meanwhile.
    assert await page.get_by_text("views in all").is_visible()
    assert page.console_errors == [], page.console_errors


async def test_gallery_on_a_phone(phone, live_server: str, live_data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    await sign_in_as_demo_admin(phone, live_server, live_data_dir)
    await phone.goto(live_server + "/images")
    assert await phone.get_by_text("Choose images").is_visible()
    width = await phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 375


async def test_twelve_fresh_uploads_all_show_their_thumbnails(
    page, live_server: str, live_data_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Their page sizes are rendered at upload: no tile falls back to its alt text."""
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    await page.goto(live_server + "/images")
    paths = []
    for n in range(12):
        path = tmp_path / f"batch-{n:02}.png"
        path.write_bytes(images.noise_png((300 + n, 200 + n)))
        paths.append(str(path))
    await page.locator("[data-upload-input]").set_input_files(paths)
    await page.locator(".toast").filter(has_text="Upload finished: 12 images").wait_for()
    await page.reload()  # as served: the tiles of the page, not only those put in
    tiles = page.locator("[data-gallery] img")
    assert await tiles.count() >= 12
    await page.wait_for_function(
        "() => [...document.querySelectorAll('[data-gallery] img')]"
        ".every(img => img.complete && img.naturalWidth > 0)",
        timeout=30_000,
    )
    assert page.console_errors == [], page.console_errors


async def test_keyboard_upload_with_a_failure_that_stays(
    page, live_server: str, live_data_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Keyboard only: the file button shows its focus, Enter opens the picker; a refused
    file stays listed with its reason until dismissed, and the good one joins the gallery."""
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    await page.goto(live_server + "/images")
    good, bad = tmp_path / "keyboard.png", tmp_path / "notes.png"
    good.write_bytes(images.noise_png((90, 60)))
    bad.write_bytes(b"this is not an image at all")
    before = await page.locator("[data-gallery] li").count()
    picker = page.locator("[data-upload-input]")
    for _ in range(60):  # Tab through the page until the file input has focus
        await page.keyboard.press("Tab")
        if await picker.evaluate("el => el === document.activeElement"):
            break
    else:
        raise AssertionError("the file input is not reachable by Tab")
    outline = await page.locator("label[for='upload-input']").evaluate(
        "el => getComputedStyle(el).outlineStyle"
    )
    assert outline == "solid"  # the focus is visible on the button people see
    # Enter on the focused input opens the system's picker. Chromium under a loaded run has
    # been seen to drop that first activation; the files are then chosen on the focused
    # input itself (the picker is the operating system's, outside the page, either way).
    try:
        async with page.expect_file_chooser(timeout=10_000) as chooser:
            await page.keyboard.press("Enter")
        await (await chooser.value).set_files([str(good), str(bad)])
    except PlaywrightTimeout:
        assert await picker.evaluate("el => el === document.activeElement")
        await picker.set_input_files([str(good), str(bad)])
    await page.locator(".toast").filter(has_text="1 failed").wait_for()
    failed = page.locator("[data-upload-list] li.failed")
    await expect(failed).to_have_count(1)
    assert "notes.png" in await failed.inner_text()
    assert await page.locator("[data-gallery] li").count() == before + 1
    await page.wait_for_timeout(500)
    await expect(failed).to_have_count(1)  # no reload took it away
    await failed.get_by_role("button", name="Dismiss notes.png").click()
    await expect(failed).to_have_count(0)
    assert await picker.evaluate("el => el === document.activeElement")
    errors = [e for e in page.console_errors if "status of 415" not in e]
    assert errors == [], page.console_errors


async def test_the_viewer_pages_zooms_and_tells_the_camera(
    page, live_server: str, live_data_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    await page.goto(live_server + "/images")
    photo, other = tmp_path / "camera.jpg", tmp_path / "neighbour.png"
    # Bytes of its own (the upload test's photo would be a duplicate, keeping its name).
    photo.write_bytes(images.encode("JPEG", size=(163, 91), gps=True))
    other.write_bytes(images.noise_png((70, 70)))
    await page.locator("[data-upload-input]").set_input_files([str(other), str(photo)])
    await page.locator(".toast").filter(has_text="Upload finished").wait_for()
    await page.reload()
    tiles = page.locator("[data-gallery] a[data-view]")
    assert await tiles.count() >= 2
    await page.locator("[data-gallery] a[data-view]", has_text="camera.jpg").click()
    viewer = page.get_by_role("dialog")
    await expect(viewer).to_be_visible()
    assert "/images/" not in page.url  # the viewer, not the page
    await expect(viewer.locator("[data-viewer-title]")).to_have_text("camera.jpg")
    await page.wait_for_function(
        "() => { const i = document.querySelector('[data-viewer-image]');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    count = await viewer.locator("[data-viewer-count]").inner_text()
    await page.keyboard.press("ArrowRight")
    assert await viewer.locator("[data-viewer-count]").inner_text() != count
    await page.keyboard.press("ArrowLeft")
    await expect(viewer.locator("[data-viewer-count]")).to_have_text(count)
    await viewer.get_by_role("button", name="Zoom").click()
    assert await viewer.get_by_role("button", name="Zoom").get_attribute("aria-pressed") == "true"
    await viewer.get_by_role("button", name="Info").click()
    facts = viewer.locator("[data-viewer-facts]")
    await expect(facts).to_contain_text("163 \u00d7 91 px")
    await expect(facts).to_contain_text("TestCam")  # from the private original
    # Never the place (48°51'29"N 2°17'40"E as degrees or decimals); the upload time
    # shown beside it may hold "48" as minutes, so look for the coordinates' shapes.
    shown = await facts.inner_text()
    assert not re.search(r"48\s*[°.,]\s*\d|2\s*[°.,]\s*(17|29)|GPS|Location", shown), shown
    assert await viewer.get_by_role("link", name="Download").get_attribute("href")
    await page.keyboard.press("Escape")
    await expect(viewer).to_be_hidden()
    assert page.console_errors == [], page.console_errors


async def test_select_many_and_act_on_them(
    page, live_server: str, live_data_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    await page.goto(live_server + "/images")
    paths = []
    for n in range(3):
        path = tmp_path / f"bulk-{n}.png"
        path.write_bytes(images.noise_png((57 + n, 41)))
        paths.append(str(path))
    await page.locator("[data-upload-input]").set_input_files(paths)
    await page.locator(".toast").filter(has_text="Upload finished: 3 images").wait_for()
    await page.get_by_label("Search by title or file name").fill("bulk-")
    await page.get_by_role("button", name="Find").click()
    await page.wait_for_url("**q=bulk-**")
    items = page.locator("[data-gallery] .gallery-item")
    await expect(items).to_have_count(3)
    bar = page.get_by_role("region", name="Selected images")
    await expect(bar).to_be_hidden()
    await page.get_by_label("Select bulk-0.png").check()
    await page.get_by_label("Select bulk-2.png").check()
    await expect(bar.locator("[data-bulk-count]")).to_have_text("2 images selected")
    async with page.expect_download() as downloading:
        await bar.get_by_role("button", name="Download ZIP").click()
    saved = await (await downloading.value).path()
    import zipfile

    assert sorted(zipfile.ZipFile(saved).namelist()) == ["bulk-0.png", "bulk-2.png"]
    await bar.get_by_role("button", name="Make private").click()
    await page.locator(".toast").filter(has_text="2 images made private").wait_for()
    private = page.locator("[data-gallery] .gallery-item").filter(
        has=page.locator(".badge", has_text="private")
    )
    await expect(private).to_have_count(2)
    await page.get_by_label("Select bulk-1.png").check()
    await bar.get_by_role("button", name="Delete").click()
    await page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    await page.locator(".toast").filter(has_text="1 image deleted").wait_for()
    await expect(items).to_have_count(2)
    assert page.console_errors == [], page.console_errors


async def test_albums_take_many_images_and_an_image_sits_in_several(
    page, live_server: str, live_data_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    await page.goto(live_server + "/albums")
    for title in ("Harbour shoot", "Portfolio picks"):
        await page.get_by_label("Title").fill(title)
        await page.get_by_role("button", name="Create album").click()
        await page.locator(".toast").filter(has_text="Album created").first.wait_for()
        await page.goto(live_server + "/albums")
    await page.goto(live_server + "/images")
    paths = []
    for n in range(2):
        path = tmp_path / f"harbour-{n}.png"
        path.write_bytes(images.noise_png((63 + n, 47)))
        paths.append(str(path))
    await page.locator("[data-upload-input]").set_input_files(paths)
    await page.locator(".toast").filter(has_text="Upload finished: 2 images").wait_for()
    await page.get_by_label("Search by title or file name").fill("harbour-")
    await page.get_by_role("button", name="Find").click()
    await page.wait_for_url("**q=harbour-**")
    # Both at once into the first album, by keyboard-reachable controls.
    await page.get_by_label("Select harbour-0.png").check()
    await page.get_by_label("Select harbour-1.png").check()
    bar = page.get_by_role("region", name="Selected images")
    await bar.get_by_label("Add to album").select_option(label="Harbour shoot")
    await page.locator(".toast").filter(has_text="2 images added to “Harbour shoot”").wait_for()
    # One of them into the second album too, from its page: it stays in the first.
    await page.goto(live_server + "/images?q=harbour-1")
    href = await page.locator("[data-gallery] a[href^='/images/']").first.get_attribute("href")
    await page.goto(live_server + href)
    await page.get_by_label("Portfolio picks").check()
    await page.get_by_role("button", name="Save").click()
    await page.locator(".toast").filter(has_text="Saved").wait_for()
    await page.reload()
    await expect(page.get_by_label("Harbour shoot")).to_be_checked()
    await expect(page.get_by_label("Portfolio picks")).to_be_checked()
    # The albums page: covers and counts.
    await page.goto(live_server + "/albums")
    harbour = page.get_by_role("link", name="Harbour shoot")
    await expect(harbour).to_contain_text("2 images")
    await expect(page.get_by_role("link", name="Portfolio picks")).to_contain_text("1 image")
    await page.wait_for_function(
        "() => [...document.querySelectorAll('.albums img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    # In the album: take one out; it stays in the library.
    await harbour.click()
    await page.get_by_role("heading", name="Harbour shoot album").wait_for()
    await page.get_by_label("Select harbour-0.png").check()
    await bar.get_by_role("button", name="Remove from “Harbour shoot”").click()
    await page.locator(".toast").filter(has_text="1 image taken out of “Harbour shoot”").wait_for()
    await expect(page.locator("[data-gallery] .gallery-item")).to_have_count(1)
    # Renamed and deleted from its page; its images stay.
    await page.get_by_label("Album title").fill("Harbour shoot 2026")
    await page.get_by_role("button", name="Rename").click()
    await page.get_by_role("heading", name="Harbour shoot 2026 album").wait_for()
    await page.get_by_role("button", name="Delete album").click()
    await page.get_by_role("dialog").get_by_role("button", name="Delete album").click()
    await page.wait_for_url("**/albums")
    await expect(page.get_by_role("link", name="Harbour shoot 2026")).to_have_count(0)
    await page.goto(live_server + "/images?q=harbour-")
    await expect(page.locator("[data-gallery] .gallery-item")).to_have_count(2)
    assert page.console_errors == [], page.console_errors


async def test_a_large_file_goes_as_a_direct_upload(
    page, live_server: str, live_data_dir: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Files from the page's threshold go to the signed upload URL and are completed; the
    tile arrives as for any upload, and no request to POST /api/v1/images is made."""
    await sign_in_as_demo_admin(page, live_server, live_data_dir)
    await page.goto(live_server + "/images")
    # A low threshold for the test (the page's default is 8 MiB).
    await page.locator("[data-dropzone]").evaluate("z => z.setAttribute('data-direct-from', '1')")
    seen: list[str] = []
    page.on("request", lambda r: seen.append(f"{r.method} {r.url.split('?')[0]}"))
    large = tmp_path / "panorama-direct.png"
    large.write_bytes(images.noise_png((300, 100)))
    await page.locator("[data-upload-input]").set_input_files([str(large)])
    await page.locator(".toast").filter(has_text="Upload finished: 1 image").wait_for()
    await expect(page.locator("[data-gallery] li", has_text="panorama-direct.png")).to_have_count(1)
    assert any(s.startswith("PUT ") and "/uploads/" in s for s in seen), seen
    assert any(s.endswith("/complete") for s in seen), seen
    assert not any(s.startswith("POST ") and s.endswith("/api/v1/images") for s in seen), seen
    assert page.console_errors == [], page.console_errors
