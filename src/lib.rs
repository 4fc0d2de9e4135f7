//! Ponte: a secure document-exchange and consent broker for the family
//! tracing of unaccompanied migrant children.

/// The running broker: state shared by every request, start-up and serving.
pub mod app;
/// Audit events: every authorization decision and administrative change.
pub mod audit;
/// Cases: pseudonymous family-tracing cases and the parties attached to them.
pub mod cases;
/// The `ponte` command line: server, administration and party client commands.
pub mod cli;
/// A typed mTLS client for the party API, used by the CLI and the tests.
pub mod client;
/// Injected time, so tests can pin it.
pub mod clock;
/// Typed settings: defaults, then `ponte.toml`, then `PONTE__…` variables.
pub mod config;
/// Purposes of processing and their lawful bases.
pub mod consent;
/// `ponte demo`: one whole case, request to reintegration, as a checked timeline.
pub mod demo;
/// Signed, encrypted documents: manifests, recipient plans, receipts, shares.
pub mod documents;
/// Decision dossiers: the signed, single-download archive a court retrieves.
pub mod dossiers;
/// The HTTP surface: routes, mTLS serving, problem+json errors, operations.
pub mod http;
/// Random pseudonymous identifiers.
pub mod ids;
/// Data-directory bootstrap: the development PKI, broker keys and demo parties.
pub mod init;
/// JSON Web Keys for the party and broker keys.
pub mod jose;
/// Notices to parties: inboxes, and webhooks pushed from a durable outbox.
pub mod notices;
/// The party registry: identities, roles, certificates and public keys.
pub mod parties;
/// X.509 for mTLS: the development CA, certificates and fingerprints.
pub mod pki;
/// Cedar policies: the schema, the actions and the one place that authorizes.
pub mod policy;
/// Secret files: read only when no one but the owner can read them.
pub mod secret;
/// Metadata (SQLite or PostgreSQL through sqlx) and objects (object_store).
pub mod storage;
