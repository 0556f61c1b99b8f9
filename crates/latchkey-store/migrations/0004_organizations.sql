-- Organizations: create-account requests, service control policies and
-- their attachments. The organization itself is the management account's.
CREATE TABLE create_account_requests (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name       TEXT NOT NULL,
    requested  {int} NOT NULL
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
    -- Attachment order: SQLite's rowid, PostgreSQL's `seq` column.
    {insertion_order}
    PRIMARY KEY (policy_id, target_id)
);
