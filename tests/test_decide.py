"""poll.decide: what one fetch means for a source, as a table; no HTTP, no store."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from republisher.config import SourceConfig
from republisher.models import EntryData, FetchResult, PreparedEntry, PreparedFeed, SourceMeta, SourceState
from republisher.poll.decide import Decision, Fetched, decide
from republisher.sources import identity

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
EARLIER = NOW - timedelta(days=1)
SOURCE = SourceConfig(name="wire", url="https://wire.example/rss", interval=900.0)
META = SourceMeta(
    title="Wire", id="https://wire.example/", self_url="https://wire.example/rss", link=None, updated=None
)
OK_200 = FetchResult(
    url=SOURCE.url, status=200, body=b"<rss/>", etag='"v2"', last_modified="Tue, 01 Dec 2026"
)
NOT_MODIFIED = FetchResult(url=SOURCE.url, status=304, body=None)
PREVIOUS = SourceState(name="wire", url=SOURCE.url, etag='"v1"', consecutive_errors=2, last_error="HTTP 500")


def prepared(guid: str, title: str = "T", content_hash: str = "h") -> PreparedEntry:
    data = EntryData(guid=guid, title=title, link=None, summary=None, content=None, author=None)
    return PreparedEntry(
        data, "guid:" + guid, content_hash, ("feed",), identity.atom_id("wire", data, "guid:" + guid)
    )


def feed(*entries: PreparedEntry, warning: str | None = None, dropped: tuple[str, ...] = ()) -> PreparedFeed:
    return PreparedFeed(META, entries, warning=warning, dropped=dropped)


def run(fetched: Fetched, previous: SourceState | None = PREVIOUS, known=None, owners=None) -> Decision:  # type: ignore[no-untyped-def]
    return decide(fetched, previous, known or {}, owners or {}, NOW, 0.5)


@pytest.mark.parametrize(
    ("fetched", "ok", "message", "errors", "gone", "etag"),
    [
        (Fetched(SOURCE, result=NOT_MODIFIED, status=304), True, "not modified", 0, False, '"v1"'),
        (Fetched(SOURCE, result=OK_200, body_hash="b", status=200), True, "unchanged", 0, False, '"v2"'),
        (Fetched(SOURCE, error="HTTP 500", status=500), False, "HTTP 500", 3, False, '"v1"'),
        (Fetched(SOURCE, error="HTTP 410: gone", status=410), False, "HTTP 410: gone", 3, True, '"v1"'),
        (
            Fetched(SOURCE, result=OK_200, feed=feed(prepared("a")), status=200),
            True,
            "1 entries: 1 new, 0 changed",
            0,
            False,
            '"v2"',
        ),
    ],
    ids=["304", "same-bytes", "server-error", "gone", "new-entry"],
)
def test_outcomes(fetched: Fetched, ok: bool, message: str, errors: int, gone: bool, etag: str) -> None:
    decision = run(fetched)
    assert (decision.outcome.ok, decision.outcome.message) == (ok, message)
    assert decision.state.consecutive_errors == errors
    assert decision.state.gone is gone
    assert decision.state.etag == etag
    assert decision.state.last_poll == NOW


def test_failure_backs_off_and_success_resets() -> None:
    failed = run(Fetched(SOURCE, error="timeout")).state
    assert failed.next_due is not None and failed.next_due - NOW > timedelta(seconds=SOURCE.interval)
    recovered = run(Fetched(SOURCE, result=NOT_MODIFIED, status=304), failed).state
    assert recovered.consecutive_errors == 0 and recovered.last_error is None
    assert recovered.next_due == NOW + timedelta(seconds=SOURCE.interval)


def test_retry_after_sets_not_before() -> None:
    state = run(Fetched(SOURCE, error="HTTP 429", status=429, retry_after=7200.0)).state
    assert state.not_before == NOW + timedelta(hours=2)


def test_permanent_redirect_is_remembered() -> None:
    moved = replace(OK_200, moved_to="https://new.example/rss")
    assert (
        run(Fetched(SOURCE, result=moved, body_hash="b", status=200)).state.moved_to
        == "https://new.example/rss"
    )


def test_only_new_and_changed_entries_are_written_and_first_seen_is_kept() -> None:
    known = {"guid:same": ("h", EARLIER), "guid:edited": ("old", EARLIER)}
    fetched = Fetched(
        SOURCE, result=OK_200, status=200, feed=feed(prepared("same"), prepared("edited"), prepared("fresh"))
    )
    decision = run(fetched, known=known)
    written = {w.entry.key: w.entry.first_seen for w in decision.writes}
    assert written == {"guid:edited": EARLIER, "guid:fresh": NOW}
    assert decision.outcome.message == "3 entries: 1 new, 1 changed"


def test_dropped_items_are_reported_and_remembered_but_good_ones_stored() -> None:
    dropped = ("'Bad link item': link is not a valid URL",)
    decision = run(Fetched(SOURCE, result=OK_200, status=200, feed=feed(prepared("a"), dropped=dropped)))
    assert not decision.outcome.ok
    assert "1 dropped: 'Bad link item': link is not a valid URL" in decision.outcome.message
    assert [w.entry.key for w in decision.writes] == ["guid:a"]
    assert decision.state.dropped == dropped


def test_a_broken_document_keeps_being_reported_until_it_changes() -> None:
    broken = run(
        Fetched(SOURCE, result=OK_200, status=200, feed=feed(prepared("a"), warning="truncated XML"))
    )
    assert not broken.outcome.ok and broken.state.last_error == "truncated XML"
    again = run(Fetched(SOURCE, result=OK_200, body_hash="b", status=200), broken.state)
    assert not again.outcome.ok and again.outcome.message == "unchanged, still: truncated XML"


def test_a_source_cannot_take_over_another_sources_id() -> None:
    guid = "https://paper.example/story/1"
    owners = {guid: ("paper", "guid:" + guid)}
    decision = run(Fetched(SOURCE, result=OK_200, status=200, feed=feed(prepared(guid))), owners=owners)
    (write,) = decision.writes
    assert write.entry.atom_id == identity.fallback_id("wire", "guid:" + guid)
    # The owner itself keeps its id.
    own = decide(
        Fetched(replace(SOURCE, name="paper"), result=OK_200, status=200, feed=feed(prepared(guid))),
        None,
        {},
        owners,
        NOW,
        0.5,
    )
    assert own.writes[0].entry.atom_id == guid


def test_entries_the_store_left_out_are_reported_as_dropped() -> None:
    from republisher.poll.decide import with_dropped

    decision = run(Fetched(SOURCE, result=OK_200, status=200, feed=feed(prepared("a"), prepared("b"))))
    after = with_dropped(decision, ["guid:b: a date without a time zone"])
    assert not after.outcome.ok and "1 dropped by the store: guid:b" in after.outcome.message
    assert after.state.dropped == ("guid:b: a date without a time zone",)
