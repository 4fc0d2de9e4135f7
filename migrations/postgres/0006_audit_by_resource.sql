-- A document's evidence, a person's accesses and a submission's leaf are
-- looked up by resource: an index keeps those lookups independent of the
-- size of the log.
create index audit_event_resource on audit_event (resource, seq);
