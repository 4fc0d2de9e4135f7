-- Consent: the data subjects of a case (pseudonymous ids), ISO/IEC TS 27560
-- consent records with their history, failed code attempts (for the rate
-- limit), which consent let which party receive which document, withdrawal
-- notices in each party's inbox, legal holds and erasures.
create table data_subject (
    case_id text not null references tracing_case (id),
    id text not null,
    relation text not null check (relation in ('child', 'mother', 'father', 'sibling', 'other_relative', 'other')),
    representative text references party (id),
    added_by text not null references party (id),
    added_at text not null,
    primary key (case_id, id)
);

create table consent (
    id text primary key,
    case_id text not null,
    subject_id text not null,
    state text not null check (state in ('given', 'refused', 'withdrawn', 'revoked', 'expired', 'invalidated')),
    given_by text not null check (given_by in ('subject', 'representative')),
    collector text not null references party (id),
    purposes text not null,
    recipients text not null,
    document_types text not null,
    valid_from text not null,
    valid_until text,
    notice_version text not null,
    notice_language text not null,
    evidence text not null references document (id),
    code_sha256 text,
    version bigint not null,
    recorded_at text not null,
    changed_at text not null,
    foreign key (case_id, subject_id) references data_subject (case_id, id)
);
create index consent_subject on consent (case_id, subject_id);

create table consent_change (
    consent_id text not null references consent (id),
    version bigint not null,
    state text not null,
    changed_by text not null,
    on_behalf bigint not null,
    reason text,
    at text not null,
    receipt text not null,
    primary key (consent_id, version)
);

create table consent_code_failure (
    consent_id text not null references consent (id),
    at_epoch bigint not null
);
create index consent_code_failure_consent on consent_code_failure (consent_id, at_epoch);

create table consent_use (
    consent_id text not null references consent (id),
    party_id text not null references party (id),
    document_id text not null references document (id),
    first_at text not null,
    primary key (consent_id, party_id, document_id)
);

create table withdrawal_notice (
    id text primary key,
    consent_id text not null references consent (id),
    case_id text not null references tracing_case (id),
    party_id text not null references party (id),
    notice text not null,
    created_at text not null,
    read_at text,
    acknowledged_at text
);
create index withdrawal_notice_party on withdrawal_notice (party_id);
create index withdrawal_notice_case on withdrawal_notice (case_id);

create table legal_hold (
    case_id text primary key references tracing_case (id),
    set_by text not null references party (id),
    reason text not null,
    set_at text not null
);

create table case_erasure (
    case_id text primary key references tracing_case (id),
    reason text not null,
    erased_by text not null,
    erased_at text not null,
    documents bigint not null
);
