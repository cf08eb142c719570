"""What people see in a browser: index.html, each feed's page (opened from disk and
served), and a feed's .atom URL, rendered by headless Chromium. No XSLT anywhere: the
pages are plain HTML.

Needs Debian's `chromium` package (`.ci/run` installs it); skipped without it. The
screenshots stay in the test's temporary folder; their paths are printed (`pytest -s`).
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree as ET

import html5lib
import pytest
from conftest import REPO, SAMPLE, Project

from republisher.cli import main
from republisher.config import load_config
from republisher.daemon.http import Server, make_server

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

ATOM = "{http://www.w3.org/2005/Atom}"
XHTML = "{http://www.w3.org/1999/xhtml}"
TOPICS = ("diplomacy", "forced-labour", "surveillance")
DESKTOP, PHONE = "1000,1400", "390,1400"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Project]]:
    """The bundled sample polled and served under /topics/; yields (URL of the folder, project)."""
    project = Project(tmp_path_factory.mktemp("browser"))
    shutil.copytree(REPO / "rules", project.rules)
    project.write_config({"guardian-uighurs": str(SAMPLE)}, extra='formats = ["atom", "json"]')
    assert main(["--config", str(project.config), "poll"]) == 0
    config = load_config(project.config)
    server: Server = make_server(replace(config, serve=replace(config.serve, port=0)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/topics/", project
    finally:
        server.shutdown()
        server.server_close()


def chromium(url: str, folder: Path, *args: str, size: str = DESKTOP) -> str:
    """Run headless Chromium on url, offline apart from our server, with a fresh profile."""
    assert CHROMIUM is not None
    profile = folder / f"profile-{len(list(folder.glob('profile-*')))}"
    run = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            f"--window-size={size}",
            *args,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


def rendered(url: str, folder: Path) -> ET.Element:
    """The DOM after rendering, as an element tree."""
    dom = chromium(url, folder, "--dump-dom")
    assert "XSLT" not in dom, "no XSLT, so no warning banner about it"
    tree: ET.Element = html5lib.parse(dom)
    return tree


def screenshot(url: str, folder: Path, name: str, size: str = DESKTOP) -> Path:
    path = folder / name
    chromium(url, folder, f"--screenshot={path}", size=size)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"screenshot of {url}: {path}")
    return path


def text_of(element: ET.Element | None) -> str:
    assert element is not None
    return " ".join("".join(element.itertext()).split())


def entry_titles(project: Project, slug: str) -> list[str]:
    root = ET.fromstring(project.feed(slug))
    return [e.findtext(ATOM + "title") or "" for e in root.findall(ATOM + "entry")]


def assert_feed_page(dom: ET.Element, project: Project, slug: str) -> None:
    """The page of the feed: its title, subscribe address and every entry of its Atom file."""
    title = ET.fromstring(project.feed(slug)).findtext(ATOM + "title")
    assert text_of(dom.find(f".//{XHTML}h1")) == title
    body = text_of(dom.find(f".//{XHTML}body"))
    assert f"http://feeds.example.org/topics/{slug}.atom" in body
    articles = [text_of(a.find(f"{XHTML}h2")) for a in dom.iter(f"{XHTML}article")]
    assert articles == entry_titles(project, slug)
    assert articles, "the sample puts stories in every feed"
    assert "UTC" in text_of(dom.find(f".//{XHTML}article"))


def test_index_page_in_a_browser(site: tuple[str, Project], tmp_path: Path) -> None:
    url, project = site
    dom = rendered(url, tmp_path)
    headings = [text_of(h) for h in dom.iter(f"{XHTML}h2")]
    assert headings == ["Diplomacy", "Forced labour", "Surveillance"]
    links = {text_of(a): a.get("href") for a in dom.iter(f"{XHTML}a")}
    for slug in TOPICS:
        for title in entry_titles(project, slug)[:5]:
            assert title in links
    assert links["Diplomacy"] == "diplomacy.html"
    assert "all of them at once (OPML)" in links
    screenshot(url, tmp_path, "index.png")


@pytest.mark.parametrize("slug", TOPICS)
def test_feed_page_opened_from_disk(site: tuple[str, Project], tmp_path: Path, slug: str) -> None:
    _, project = site
    page = (project.public / f"{slug}.html").as_uri()
    assert_feed_page(rendered(page, tmp_path), project, slug)


def test_feed_page_served_and_on_a_phone(site: tuple[str, Project], tmp_path: Path) -> None:
    url, project = site
    assert_feed_page(rendered(url + "surveillance.html", tmp_path), project, "surveillance")
    screenshot(url + "surveillance.html", tmp_path, "surveillance.png")
    screenshot(url + "surveillance.html", tmp_path, "surveillance-phone.png", size=PHONE)


def test_a_feeds_atom_url_shows_its_page_in_a_browser(site: tuple[str, Project], tmp_path: Path) -> None:
    """A browser asks for HTML: serve answers the .atom URL with the feed's page."""
    url, project = site
    assert_feed_page(rendered(url + "diplomacy.atom", tmp_path), project, "diplomacy")
    screenshot(url + "diplomacy.atom", tmp_path, "diplomacy-atom-url.png")
