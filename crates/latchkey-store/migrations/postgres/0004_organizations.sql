-- PostgreSQL twin of ../sqlite/0004_organizations.sql: same tables and columns, PostgreSQL types.
-- Organizations: create-account requests, service control policies and
-- their attachments. The organization itself is the management account's.
CREATE TABLE create_account_requests (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name       TEXT NOT NULL,
    requested  BIGINT NOT NULL
);

CREATE TABLE scps (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    content     TEXT NOT NULL
);

-- target_id is the organization root (r-…) or an account id.
CREATE TABLE scp_attachments (
    policy_id TEXT NOT NULL,
    target_id TEXT NOT NULL,
    -- Attachment order (SQLite's rowid).
    seq       BIGSERIAL,
    PRIMARY KEY (policy_id, target_id)
);
