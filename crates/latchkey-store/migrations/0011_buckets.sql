-- S3 buckets: the name is global (one bucket of a name across every
-- account), so it is the key; each bucket belongs to one account and may
-- hold a bucket policy, stored as the user sent it.
CREATE TABLE buckets (
    name              TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL REFERENCES accounts(id),
    -- The LocationConstraint region, e.g. us-east-1.
    region            TEXT NOT NULL,
    -- The bucket policy document; NULL when the bucket has none.
    policy            TEXT,
    -- The users and roles the policy names, bound to the unique ids they
    -- had when it was saved: one `ARN ID` pair a line, as
    -- roles.trust_principals; '' without a policy.
    policy_principals TEXT NOT NULL DEFAULT '',
    created           {int} NOT NULL
);
