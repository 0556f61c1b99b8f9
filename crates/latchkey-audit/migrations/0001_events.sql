-- The lookup index over the trail's segment files. The segments are the
-- record of truth; this table can be rebuilt from them, so it is written
-- without an fsync per commit. A row points at its event's line.
CREATE TABLE events (
    seq           INTEGER PRIMARY KEY,            -- the trail's sequence number; newest first = seq DESC
    event_id      TEXT    NOT NULL,
    event_time    INTEGER NOT NULL,               -- Unix seconds
    account_id    TEXT    NOT NULL,               -- recipientAccountId: whose trail this is
    event_name    TEXT    NOT NULL,
    event_source  TEXT    NOT NULL,
    username      TEXT,
    access_key_id TEXT,
    read_only     INTEGER NOT NULL,
    resources     TEXT    NOT NULL,               -- JSON [{ResourceType, ResourceName}], LookupEvents' Resources
    names         TEXT    NOT NULL,               -- '\n'-wrapped ResourceName terms, for lookups
    types         TEXT    NOT NULL,               -- '\n'-wrapped ResourceType terms
    segment       INTEGER NOT NULL,               -- the segment file (its first sequence number)
    offset        INTEGER NOT NULL,               -- where the event's JSON starts in it
    len           INTEGER NOT NULL                -- and how long it is
);
CREATE INDEX events_account ON events (account_id, seq);
CREATE INDEX events_name ON events (account_id, event_name, seq);
CREATE INDEX events_user ON events (account_id, username, seq);
CREATE INDEX events_key ON events (account_id, access_key_id, seq);
