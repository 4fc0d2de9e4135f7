-- The audit log as an RFC 6962 Merkle tree: every event becomes a leaf (in
-- the order an integrator assigns), complete subtrees are kept for proofs,
-- the head says how far the tree goes, and signed checkpoints publish it.
create table audit_pending (
    seq bigint primary key
);
insert into audit_pending (seq) select seq from audit_event;

create trigger audit_event_pending after insert on audit_event
begin
    insert into audit_pending (seq) values (new.seq);
end;

create table audit_leaf (
    leaf_index bigint primary key,
    event_seq bigint not null unique references audit_event (seq),
    leaf_hash text not null
);

-- Complete subtrees above the leaves: id = level * 2^48 + index.
create table audit_node (
    id bigint primary key,
    hash text not null
);

create table audit_head (
    id bigint primary key check (id = 1),
    size bigint not null,
    root text not null,
    updated_at text not null
);
insert into audit_head (id, size, root, updated_at)
values (1, 0, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', '');

create table audit_checkpoint (
    size bigint primary key,
    root text not null,
    note text not null,
    at text not null
);

create trigger audit_leaf_no_update before update on audit_leaf
begin
    select raise(abort, 'audit_leaf is append-only');
end;
create trigger audit_leaf_no_delete before delete on audit_leaf
begin
    select raise(abort, 'audit_leaf is append-only');
end;
create trigger audit_node_no_update before update on audit_node
begin
    select raise(abort, 'audit_node is append-only');
end;
create trigger audit_node_no_delete before delete on audit_node
begin
    select raise(abort, 'audit_node is append-only');
end;
create trigger audit_checkpoint_no_update before update on audit_checkpoint
begin
    select raise(abort, 'audit_checkpoint is append-only');
end;
create trigger audit_checkpoint_no_delete before delete on audit_checkpoint
begin
    select raise(abort, 'audit_checkpoint is append-only');
end;
