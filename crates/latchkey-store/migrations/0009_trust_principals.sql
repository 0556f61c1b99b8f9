-- The users and roles a role's trust policy names, bound to the unique ids
-- they had when the policy was saved (AWS's model: a namesake created after
-- a deletion is another principal). One `ARN ID` pair a line; '' when the
-- policy names none. NULL for trust policies saved before this migration:
-- `serve` binds those to the entities that hold the names at its start.
ALTER TABLE roles ADD COLUMN trust_principals TEXT;
