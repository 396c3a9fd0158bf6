-- The audit log: every admin and auditor action and every money-moving event, hash-chained.
-- content_sha256 is the SHA-256 of the entry's canonical content (see src/trail.rs);
-- hash = SHA-256(prev_hash || content_sha256); the first entry's prev_hash is 32 zero bytes.
-- Appends take one advisory lock, so entries are numbered and chained in commit order.
create table audit_log (
    seq bigint primary key,
    at timestamptz not null,
    actor_id uuid,
    actor_role text not null,
    action text not null,
    target_kind text not null,
    target_id text not null,
    detail jsonb not null,
    content_sha256 bytea not null,
    prev_hash bytea not null,
    hash bytea not null
);

create index audit_log_actor_idx on audit_log (actor_id, seq);
create index audit_log_action_idx on audit_log (action, seq);
create index audit_log_target_idx on audit_log (target_kind, target_id, seq);
create index audit_log_at_idx on audit_log (at, seq);

create function audit_log_append_only() returns trigger language plpgsql as $$
begin
    raise exception 'the audit log is append-only: % is not allowed', tg_op
        using errcode = 'insufficient_privilege';
end;
$$;

create trigger audit_log_no_update_delete
    before update or delete on audit_log
    for each row execute function audit_log_append_only();
create trigger audit_log_no_truncate
    before truncate on audit_log
    for each statement execute function audit_log_append_only();
