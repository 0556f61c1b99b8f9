-- Accounts, IAM users and long-term access keys.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE accounts (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL,
    management {bool} NOT NULL,
    created    {int} NOT NULL
);

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name       TEXT NOT NULL,
    -- IAM names are unique regardless of case.
    name_lower TEXT NOT NULL,
    path       TEXT NOT NULL,
    created    {int} NOT NULL,
    UNIQUE (account_id, name_lower)
);

-- Tags of any entity, kept in the order given.
CREATE TABLE tags (
    owner_id TEXT NOT NULL,
    position {int} NOT NULL,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (owner_id, position)
);

CREATE TABLE access_keys (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    -- NULL for the account root's keys.
    user_id    TEXT REFERENCES users(id) ON DELETE RESTRICT,
    status     TEXT NOT NULL CHECK (status IN ('Active', 'Inactive')),
    -- AES-256-GCM under the master key, the key id bound as associated data.
    secret     {blob} NOT NULL,
    created    {int} NOT NULL
);
CREATE INDEX access_keys_user ON access_keys(user_id);
