-- Groups, roles, managed policies, inline policies, attachments, boundaries.
ALTER TABLE users ADD COLUMN permissions_boundary TEXT;

CREATE TABLE groups (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    name       TEXT NOT NULL,
    name_lower TEXT NOT NULL,
    path       TEXT NOT NULL,
    created    {int} NOT NULL,
    UNIQUE (account_id, name_lower)
);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE RESTRICT,
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE RESTRICT,
    added    {int} NOT NULL,
    -- Insertion order, the tie-break for equal `added`: SQLite's rowid;
    -- PostgreSQL has none, so this is a `seq` column there.
    {insertion_order}
    PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members(user_id);

CREATE TABLE roles (
    id                   TEXT PRIMARY KEY,
    account_id           TEXT NOT NULL REFERENCES accounts(id),
    name                 TEXT NOT NULL,
    name_lower           TEXT NOT NULL,
    path                 TEXT NOT NULL,
    trust_policy         TEXT NOT NULL,
    description          TEXT,
    max_session_duration {int} NOT NULL,
    permissions_boundary TEXT,
    created              {int} NOT NULL,
    last_used            {int},
    last_used_region     TEXT,
    UNIQUE (account_id, name_lower)
);

CREATE TABLE managed_policies (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts(id),
    name            TEXT NOT NULL,
    name_lower      TEXT NOT NULL,
    path            TEXT NOT NULL,
    description     TEXT,
    default_version TEXT NOT NULL,
    next_version    {int} NOT NULL,
    created         {int} NOT NULL,
    updated         {int} NOT NULL,
    UNIQUE (account_id, name_lower)
);

CREATE TABLE policy_versions (
    policy_id  TEXT NOT NULL REFERENCES managed_policies(id) ON DELETE CASCADE,
    version_id TEXT NOT NULL,
    seq        {int} NOT NULL,
    document   TEXT NOT NULL,
    created    {int} NOT NULL,
    PRIMARY KEY (policy_id, version_id)
);

-- Attachments name the policy by ARN: AWS-managed policies are built in and
-- have no row here.
CREATE TABLE attachments (
    policy_arn TEXT NOT NULL,
    owner_kind TEXT NOT NULL CHECK (owner_kind IN ('user', 'group', 'role')),
    owner_id   TEXT NOT NULL,
    seq        {int} NOT NULL,
    PRIMARY KEY (policy_arn, owner_id)
);
CREATE INDEX attachments_owner ON attachments(owner_id);

CREATE TABLE inline_policies (
    owner_kind TEXT NOT NULL CHECK (owner_kind IN ('user', 'group', 'role')),
    owner_id   TEXT NOT NULL,
    name       TEXT NOT NULL,
    document   TEXT NOT NULL,
    PRIMARY KEY (owner_id, name)
);
