-- Session-token keys, each sealed under the master key. One seals new
-- tokens (the newest); older ones keep opening tokens until they expire.
CREATE TABLE token_keys (
    id      {int} PRIMARY KEY,
    created {int} NOT NULL,
    secret  {blob} NOT NULL
);
