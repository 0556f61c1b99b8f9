-- Virtual MFA devices; the TOTP seed is sealed under the master key.
CREATE TABLE mfa_devices (
    serial     TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    user_id    TEXT REFERENCES users(id) ON DELETE RESTRICT,
    enabled    {int},
    created    {int} NOT NULL,
    seed       {blob} NOT NULL
);
