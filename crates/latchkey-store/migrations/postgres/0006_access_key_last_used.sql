-- PostgreSQL twin of ../sqlite/0006_access_key_last_used.sql: same tables and columns, PostgreSQL types.
-- When each access key was last used, for which service and region.
ALTER TABLE access_keys ADD COLUMN last_used BIGINT;
ALTER TABLE access_keys ADD COLUMN last_used_service TEXT;
ALTER TABLE access_keys ADD COLUMN last_used_region TEXT;
