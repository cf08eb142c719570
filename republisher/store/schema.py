"""The store's schema, as numbered migrations.

MIGRATIONS[i] takes the schema from `PRAGMA user_version` i to i + 1. A migration is
never edited once released: a change to the schema is a new migration at the end.
Statements are separated by ";" (none may contain one), and each migration runs in one
transaction, so a crash half-way leaves the store at the previous version.
"""

from __future__ import annotations

DB_NAME = "republisher.sqlite3"

MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE sources (
        name TEXT PRIMARY KEY,
        url TEXT NOT NULL,               -- the configured URL
        moved_to TEXT,                   -- set by a permanent redirect
        etag TEXT,
        last_modified TEXT,
        body_hash TEXT,                  -- sha256 of the last body parsed
        last_poll TEXT,
        last_status INTEGER,
        last_error TEXT,
        consecutive_errors INTEGER NOT NULL DEFAULT 0,
        next_due TEXT,
        gone INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE entries (
        source TEXT NOT NULL,
        key TEXT NOT NULL,               -- guid, link or content hash (identity.entry_key)
        atom_id TEXT NOT NULL,
        content_hash TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        changed_at TEXT NOT NULL,        -- when this version was stored
        sort_time TEXT NOT NULL,         -- the entry's date, never after first_seen
        data TEXT NOT NULL,              -- EntryData as JSON
        origin TEXT NOT NULL,            -- SourceMeta as JSON, for atom:source
        PRIMARY KEY (source, key)
    );
    CREATE INDEX entries_by_atom_id ON entries (atom_id);
    CREATE TABLE routes (
        source TEXT NOT NULL,
        key TEXT NOT NULL,
        slug TEXT NOT NULL,
        hits TEXT NOT NULL,              -- dropped by migration 5
        PRIMARY KEY (slug, source, key),
        FOREIGN KEY (source, key) REFERENCES entries (source, key) ON DELETE CASCADE
    );
    CREATE TABLE feeds (
        slug TEXT PRIMARY KEY,
        first_written TEXT NOT NULL      -- `updated` of a feed with no entries yet
    );
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    """
    ALTER TABLE sources ADD COLUMN not_before TEXT;  -- the server's Retry-After
    """,
    """
    CREATE INDEX routes_by_entry ON routes (source, key);  -- rerouting and replacing one entry
    """,
    """
    CREATE TABLE websub_pending (      -- hubs still to be told that a derived feed changed
        hub TEXT NOT NULL,
        topic TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_try TEXT NOT NULL,
        last_error TEXT,
        PRIMARY KEY (hub, topic)
    )
    """,
    """
    ALTER TABLE routes DROP COLUMN hits;  -- never read: `explain` recomputes why an entry matched
    """,
    """
    -- The items of the last parsed document that were left out, and why: a JSON list of lines.
    ALTER TABLE sources ADD COLUMN dropped TEXT NOT NULL DEFAULT '[]'
    """,
    """
    -- The routed entry's sort_time, copied from entries and rewritten with every route, so
    -- that a feed's newest N entries come straight from routes_by_time: publishing costs
    -- what it publishes, not the number of entries ever routed to the feed.
    ALTER TABLE routes ADD COLUMN sort_time TEXT NOT NULL DEFAULT '';
    UPDATE routes SET sort_time = coalesce((
        SELECT e.sort_time FROM entries e WHERE e.source = routes.source AND e.key = routes.key
    ), '');
    CREATE INDEX routes_by_time ON routes (slug, sort_time, source, key)
    """,
    """
    -- The derived feeds whose routed entries changed since they were last published: a
    -- publish renders these (and those whose rule or settings changed), then forgets them.
    CREATE TABLE changed_feeds (slug TEXT PRIMARY KEY);
    -- What a feed was last published from (a fingerprint of its rule and the settings)
    -- and what the index pages show of it, as JSON: an unchanged feed is not rendered.
    ALTER TABLE feeds ADD COLUMN published TEXT;
    -- Routes keyed by entry, without a rowid: one b-tree serves an entry's routes (the
    -- primary key) and one a feed's newest (routes_by_time), where there were four to
    -- update for every route stored.
    CREATE TABLE routes_by_entry_key (
        source TEXT NOT NULL,
        key TEXT NOT NULL,
        slug TEXT NOT NULL,
        sort_time TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (source, key, slug),
        FOREIGN KEY (source, key) REFERENCES entries (source, key) ON DELETE CASCADE
    ) WITHOUT ROWID;
    INSERT INTO routes_by_entry_key (source, key, slug, sort_time)
        SELECT source, key, slug, sort_time FROM routes;
    DROP TABLE routes;
    ALTER TABLE routes_by_entry_key RENAME TO routes;
    CREATE INDEX routes_by_time ON routes (slug, sort_time, source, key)
    """,
    """
    -- Which sanitizer cleaned the entry's HTML before it was stored (markup.sanitizer_id):
    -- a publish cleans it again unless it is the sanitizer running then. '' for the rows
    -- stored before: they are cleaned at every publish, as they always were.
    ALTER TABLE entries ADD COLUMN sanitized_by TEXT NOT NULL DEFAULT ''
    """,
)


def statements(migration: str) -> list[str]:
    """The SQL statements of one migration, in order."""
    return [s for s in migration.split(";") if s.strip()]
