"""Two app processes behind haproxy (deploy/serve_many.py), driven through the proxy by
lightweight websocket visitors (benchmarks/st_client.py): cookies spread visitors over both
processes, and keep each one's session, pictures and reconnections on its own process.
scripts/test installs haproxy for it."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import urllib.error
import urllib.request

import pytest
from conftest import REPO

from kitten_mixer.webapp.launch import free_port
from kitten_mixer.webapp.texts import DEFAULT_LANGUAGE, TEXTS

sys.path += [str(REPO / "benchmarks"), str(REPO / "deploy")]
from serve_many import serve_many  # noqa: E402  (scripts, not a package)
from st_client import Page, WebsocketVisitor  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    if shutil.which("haproxy") is None:
        if os.environ.get("CI"):
            pytest.fail("no haproxy: scripts/test installs it")
        pytest.skip("no haproxy on this machine (apt-get install haproxy; scripts/test "
                    "installs it)")
    with serve_many(2, free_port(), logs=tmp_path_factory.mktemp("logs"), timeout=60) as farm:
        yield farm


def metric(app_url: str, name: str) -> int:
    """A number from the app process's own /_stcore/metrics, asked directly, not via haproxy."""
    with urllib.request.urlopen(f"{app_url}/_stcore/metrics", timeout=10) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith(name + " "):
                return int(float(line.split()[1]))
    raise AssertionError(f"{app_url}: no metric {name}")


def status(url: str, cookies: str = "") -> int:
    request = urllib.request.Request(url, headers={"Cookie": cookies} if cookies else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()
            return answer.status
    except urllib.error.HTTPError as e:
        return e.code


def fine(page: Page) -> Page:
    assert not page.problems, page.problems
    return page


def test_cookies_spread_visitors_from_one_address_over_both_processes(farm):
    async def visit() -> list[str]:
        visitors = [WebsocketVisitor(farm.url, timeout=60) for _ in range(4)]
        try:
            for visitor in visitors:
                fine(await visitor.open())
            assert [metric(url, "active_sessions") for url in farm.app_urls] == [2, 2]
            return [visitor.cookies for visitor in visitors]
        finally:
            for visitor in visitors:
                await visitor.close()

    cookies = asyncio.run(visit())
    assert sorted(cookies) == ["SERVERID=app1"] * 2 + ["SERVERID=app2"] * 2


def test_a_visitor_stays_on_its_process_across_reruns_and_a_reconnect(farm):
    async def visit() -> tuple[WebsocketVisitor, Page]:
        async with WebsocketVisitor(farm.url, timeout=60) as visitor:
            page = fine(await visitor.open())
            a, b = (key.removeprefix("select-") for key in page.keys("select-")[:2])
            fine(await visitor.click(f"select-{a}"))
            for _ in range(3):  # reruns with no new input: the choice is kept
                assert fine(await visitor.rerun()).keys("remove-") == [f"remove-{a}"]
            page = fine(await visitor.click(f"select-{b}"))
            assert sorted(page.keys("remove-")) == sorted([f"remove-{a}", f"remove-{b}"])
            assert TEXTS["morph"][DEFAULT_LANGUAGE] in page.headings
        return visitor, page

    visitor, page = asyncio.run(visit())
    home = int(visitor.cookies.removeprefix("SERVERID=app")) - 1
    other = farm.app_urls[1 - home]
    # The pictures of its page live in the memory of the visitor's process: through the proxy
    # with its cookie every one is found; the other process lacks the morph's (the gallery's
    # own pictures are the same bytes, so the same files, on both)
    assert len(page.media) > 20
    assert all(status(farm.url + path, visitor.cookies) == 200 for path in page.media)
    assert sum(status(other + path) == 404 for path in page.media) >= 5

    async def come_back() -> Page:
        async with WebsocketVisitor(farm.url, timeout=60) as again:
            again.cookies = visitor.cookies
            return fine(await again.open(visitor.session_id))

    page = asyncio.run(come_back())  # a reloaded tab: the same session, both cats still chosen
    assert len(page.keys("remove-")) == 2
    assert metric(farm.app_urls[home], 'session_events_total{type="reconnect"}') == 1
