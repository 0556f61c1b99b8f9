-- When each access key was last used, for which service and region.
ALTER TABLE access_keys ADD COLUMN last_used {int};
ALTER TABLE access_keys ADD COLUMN last_used_service TEXT;
ALTER TABLE access_keys ADD COLUMN last_used_region TEXT;
