-- PostgreSQL twin of ../sqlite/0005_mfa_devices.sql: same tables and columns, PostgreSQL types.
-- Virtual MFA devices; the TOTP seed is sealed under the master key.
CREATE TABLE mfa_devices (
    serial     TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    user_id    TEXT REFERENCES users(id) ON DELETE RESTRICT,
    enabled    BIGINT,
    created    BIGINT NOT NULL,
    seed       BYTEA NOT NULL
);
