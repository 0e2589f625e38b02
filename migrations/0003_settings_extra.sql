-- Porter on D1, schema 3: settings without a column of their own (added after schema 1) are kept together as one
-- JSON object per scope, so a new setting needs no migration. NULL: none set at this scope.
ALTER TABLE settings ADD COLUMN extra TEXT;
