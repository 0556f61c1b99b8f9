-- AWS attaches FullAWSAccess to the root and to every account, the
-- management account included (SCPs still never restrict it). Stores
-- initialised before this migration have no such attachment for the
-- management account, so an SCP attached there could never be detached
-- (it would always be the last one). 'p-FullAWSAccess' is FULL_AWS_ACCESS in
-- crates/latchkey-server/src/state/snapshot.rs; `init` now writes the same row.
INSERT INTO scp_attachments (policy_id, target_id)
SELECT 'p-FullAWSAccess', id FROM accounts WHERE management
ON CONFLICT DO NOTHING;
