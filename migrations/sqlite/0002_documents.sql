-- Documents: ciphertext only, with the manifest, receipts, recipients and shares;
-- per-case keys of the outer layer; uploads not yet committed (swept when orphaned).
create table case_key (
    case_id text primary key,
    wrapped text not null,
    created_at text not null,
    destroyed_at text
);

create table document (
    id text primary key,
    case_id text not null references tracing_case (id),
    document_type text not null,
    purpose text not null,
    author text not null references party (id),
    author_kid text not null,
    subjects text not null,
    manifest text not null,
    manifest_sha256 text not null,
    envelope_sha256 text not null,
    envelope_head text not null,
    recipients_end bigint not null,
    size bigint not null,
    object_key text,
    supersedes text references document (id),
    is_current bigint not null,
    receipt text not null,
    received_at text not null
);
create index document_case on document (case_id);

create table document_recipient (
    document_id text not null references document (id),
    kid text not null,
    party_id text not null references party (id),
    added_by text not null references party (id),
    added_at text not null,
    share_entry text,
    primary key (document_id, kid)
);
create index document_recipient_party on document_recipient (party_id);

create table pending_upload (
    object_key text primary key,
    started_epoch bigint not null
);
