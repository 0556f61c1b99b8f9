-- PostgreSQL twin of ../sqlite/0003_token_keys.sql: same tables and columns, PostgreSQL types.
-- Session-token keys, each sealed under the master key. One seals new
-- tokens (the newest); older ones keep opening tokens until they expire.
CREATE TABLE token_keys (
    id      BIGINT PRIMARY KEY,
    created BIGINT NOT NULL,
    secret  BYTEA NOT NULL
);
