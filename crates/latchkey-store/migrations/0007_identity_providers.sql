-- OIDC and SAML identity providers, for federation.
CREATE TABLE identity_providers (
    arn         TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts(id),
    kind        TEXT NOT NULL CHECK (kind IN ('oidc', 'saml')),
    -- OIDC: the issuer URL; SAML: the provider name.
    name        TEXT NOT NULL,
    -- OIDC client ids and thumbprints, one per line.
    client_ids  TEXT NOT NULL DEFAULT '',
    thumbprints TEXT NOT NULL DEFAULT '',
    -- SAML metadata document.
    metadata    TEXT NOT NULL DEFAULT '',
    created     {int} NOT NULL
);
