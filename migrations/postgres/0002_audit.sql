-- Porter on PostgreSQL, schema 2 (as migrations/0002_audit.sql): the audit lines of a task's creation, of each
-- dispatch attempt and of each machine it gets, written by triggers in the statement that makes the change.

CREATE FUNCTION porter_audit_created_detail() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO task_events (task_id, at, kind, detail)
  VALUES (
    NEW.id,
    NEW.created_at,
    'created',
    NEW.agent || ' for @' || NEW.requested_by_login || ' (delivery ' || NEW.delivery_id || ')'
  );
  RETURN NULL;
END
$$;
CREATE TRIGGER tasks_audit_created_detail AFTER INSERT ON tasks FOR EACH ROW
  EXECUTE FUNCTION porter_audit_created_detail();

CREATE FUNCTION porter_audit_dispatch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO task_events (task_id, at, kind, detail)
  VALUES (NEW.id, NEW.updated_at, 'dispatch', 'attempt ' || NEW.dispatch_attempts);
  RETURN NULL;
END
$$;
CREATE TRIGGER tasks_audit_dispatch AFTER UPDATE OF dispatch_attempts ON tasks FOR EACH ROW
  WHEN (NEW.dispatch_attempts > OLD.dispatch_attempts)
  EXECUTE FUNCTION porter_audit_dispatch();

CREATE FUNCTION porter_audit_machine() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO task_events (task_id, at, kind, detail) VALUES (NEW.id, NEW.updated_at, 'machine', NEW.machine_id);
  RETURN NULL;
END
$$;
CREATE TRIGGER tasks_audit_machine AFTER UPDATE OF machine_id ON tasks FOR EACH ROW
  WHEN (NEW.machine_id IS NOT NULL AND NEW.machine_id IS DISTINCT FROM OLD.machine_id)
  EXECUTE FUNCTION porter_audit_machine();
