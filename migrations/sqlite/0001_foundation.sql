-- Parties, their certificates and keys; cases and their members; the audit log.
create table party (
    id text primary key,
    role text not null,
    display_name text not null,
    status text not null check (status in ('active', 'disabled')),
    created_at text not null,
    disabled_at text
);

create table party_certificate (
    fingerprint text primary key,
    party_id text not null references party (id),
    added_at text not null
);
create index party_certificate_party on party_certificate (party_id);

create table party_key (
    kid text primary key,
    party_id text not null references party (id),
    key_use text not null check (key_use in ('sig', 'enc')),
    jwk text not null,
    status text not null check (status in ('active', 'retired')),
    created_at text not null,
    retired_at text
);
create index party_key_party on party_key (party_id);

create table tracing_case (
    id text primary key,
    country text not null,
    state text not null,
    opened_by text not null references party (id),
    opened_at text not null
);

create table case_member (
    case_id text not null references tracing_case (id),
    party_id text not null references party (id),
    role text not null,
    attached_by text not null references party (id),
    attached_at text not null,
    primary key (case_id, party_id)
);
create index case_member_party on case_member (party_id);

create table audit_event (
    seq integer primary key autoincrement,
    at text not null,
    request_id text,
    principal text not null,
    action text not null,
    resource text not null,
    decision text not null check (decision in ('allow', 'deny', 'done')),
    policy_ids text not null,
    policy_set text not null,
    detail text not null
);

create trigger audit_event_no_update before update on audit_event
begin
    select raise(abort, 'audit_event is append-only');
end;

create trigger audit_event_no_delete before delete on audit_event
begin
    select raise(abort, 'audit_event is append-only');
end;
