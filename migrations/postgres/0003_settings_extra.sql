-- Porter on PostgreSQL, schema 3 (as migrations/0003_settings_extra.sql): settings without a column of their own
-- are kept together as one JSON object per scope (text, merged with jsonb `||`). NULL: none set at this scope.
ALTER TABLE settings ADD COLUMN extra TEXT;
