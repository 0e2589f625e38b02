-- Porter on D1, schema 2: the store writes the audit lines of a task's creation (who asked for what, next to the
-- transition into its first state), of each dispatch attempt and of each machine it gets, in the statement that makes
-- the change (one statement each, as for transitions).

CREATE TRIGGER tasks_audit_created_detail AFTER INSERT ON tasks
BEGIN
  INSERT INTO task_events (task_id, at, kind, detail)
  VALUES (
    NEW.id,
    NEW.created_at,
    'created',
    NEW.agent || ' for @' || NEW.requested_by_login || ' (delivery ' || NEW.delivery_id || ')'
  );
END;

CREATE TRIGGER tasks_audit_dispatch AFTER UPDATE OF dispatch_attempts ON tasks
  WHEN NEW.dispatch_attempts > OLD.dispatch_attempts
BEGIN
  INSERT INTO task_events (task_id, at, kind, detail)
  VALUES (NEW.id, NEW.updated_at, 'dispatch', 'attempt ' || NEW.dispatch_attempts);
END;

CREATE TRIGGER tasks_audit_machine AFTER UPDATE OF machine_id ON tasks
  WHEN NEW.machine_id IS NOT NULL AND NEW.machine_id IS NOT OLD.machine_id
BEGIN
  INSERT INTO task_events (task_id, at, kind, detail) VALUES (NEW.id, NEW.updated_at, 'machine', NEW.machine_id);
END;
