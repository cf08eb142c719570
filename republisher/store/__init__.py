"""The SQLite store: `from republisher.store import Store, EntryWrite`."""

from republisher.store.store import DB_NAME, EntryWrite, Ping, Store

__all__ = ["DB_NAME", "EntryWrite", "Ping", "Store"]
