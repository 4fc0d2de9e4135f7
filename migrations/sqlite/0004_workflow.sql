-- The case workflow, every notice in one inbox with a durable webhook outbox,
-- the agreement behind each correction, and the dossiers courts retrieved.
create table case_transition (
    id text primary key,
    case_id text not null references tracing_case (id),
    from_state text not null,
    to_state text not null,
    actor text not null references party (id),
    document_id text references document (id),
    at text not null,
    unique (case_id, from_state, to_state)
);
create index case_transition_case on case_transition (case_id, at);

create table notice (
    id text primary key,
    party_id text not null references party (id),
    case_id text references tracing_case (id),
    kind text not null,
    notice text not null,
    created_at text not null,
    read_at text,
    acknowledged_at text
);
create index notice_party on notice (party_id, created_at);
create index notice_case on notice (case_id, created_at);

insert into notice (id, party_id, case_id, kind, notice, created_at, read_at, acknowledged_at)
select id, party_id, case_id, 'withdrawal', notice, created_at, read_at, acknowledged_at
from withdrawal_notice;
drop table withdrawal_notice;

create table party_webhook (
    party_id text primary key references party (id),
    url text not null,
    set_at text not null
);

create table notice_delivery (
    notice_id text primary key references notice (id),
    url text not null,
    attempts bigint not null,
    next_at_ms bigint not null,
    delivered_at text,
    last_status bigint,
    last_error text
);
create index notice_delivery_due on notice_delivery (next_at_ms) where delivered_at is null;

create table correction_agreement (
    document_id text primary key references document (id),
    corrected_id text not null references document (id),
    subject_id text not null,
    given_through text not null,
    consent_id text references consent (id),
    attested_by text not null references party (id),
    at text not null
);

create table dossier (
    id text primary key,
    case_id text not null references tracing_case (id),
    court_id text not null references party (id),
    manifest_sha256 text not null,
    documents bigint not null,
    awaiting_share bigint not null,
    created_at text not null
);
create index dossier_case on dossier (case_id);

create table share_request (
    document_id text not null references document (id),
    party_id text not null references party (id),
    requested_at text not null,
    primary key (document_id, party_id)
);
