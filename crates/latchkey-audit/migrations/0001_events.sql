-- One row per CloudTrail event. Append-only: rows are only ever inserted,
-- and deleted by age when retention expires.
CREATE TABLE events (
    seq           INTEGER PRIMARY KEY,            -- insertion order; newest first = seq DESC
    event_id      TEXT    NOT NULL UNIQUE,
    event_time    INTEGER NOT NULL,               -- Unix seconds
    account_id    TEXT    NOT NULL,               -- recipientAccountId: whose trail this is
    event_name    TEXT    NOT NULL,
    event_source  TEXT    NOT NULL,
    username      TEXT,
    access_key_id TEXT,
    read_only     INTEGER NOT NULL,
    resources     TEXT    NOT NULL,               -- JSON [[type, name], ...], LookupEvents' Resources
    names         TEXT    NOT NULL,               -- '\n'-wrapped ResourceName terms, for lookups
    types         TEXT    NOT NULL,               -- '\n'-wrapped ResourceType terms
    body          TEXT    NOT NULL                -- the CloudTrail event JSON
);
CREATE INDEX events_account ON events (account_id, seq);
CREATE INDEX events_name ON events (account_id, event_name, seq);
CREATE INDEX events_user ON events (account_id, username, seq);
CREATE INDEX events_key ON events (account_id, access_key_id, seq);
