//! Storage: metadata through sqlx on SQLite (embedded default) or PostgreSQL
//! (production), chosen by the URL; objects through object_store.
//!
//! Queries are written once in SQL both engines accept (`$1` parameters,
//! `on conflict do nothing`, text and bigint columns) and run through sqlx's
//! `Any` driver, so one implementation per concern serves both databases and
//! one test suite proves it on both. Migrations stay per backend.

mod local;
pub mod objects;
pub mod sealed;
pub mod streaming;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::AnyPool;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Settings;
use crate::secret::{self, SecretError};

pub use objects::Objects;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// Which database engine holds the metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A failed database operation, classified for the caller.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database cannot be reached now; retrying later may succeed.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error: {0}")]
    Other(#[source] sqlx::Error),
    /// Stored data is not what the broker wrote.
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable(&e) {
            DbError::Unavailable(e)
        } else {
            DbError::Other(e)
        }
    }
}

fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        // A conversation with the server that broke off (a closed socket
        // mid-handshake reads as a protocol error) is as transient as a refusal.
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // PostgreSQL: connection exceptions (08…), shutdown and start-up (57P0…);
            // SQLite: busy (5) and locked (6).
            code.starts_with("08") || code.starts_with("57P0") || code == "5" || code == "6"
        }),
        _ => false,
    }
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("database URL must start with sqlite:// or postgres://, got {0:?}")]
    Scheme(String),
    #[error("database URL is not valid: {0}")]
    Url(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("cannot open the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("cannot apply database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// How long a pooled connection may sit idle before it is checked with a
/// ping when next handed out.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(5);

/// The metadata database.
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    engine: Engine,
    /// Connections that may be held while waiting on something else.
    waiting: Arc<Semaphore>,
}

impl Db {
    /// Opens the configured database and applies the migrations of its
    /// backend. On PostgreSQL sqlx holds an advisory lock while migrating, so
    /// replicas starting together apply each migration once.
    pub async fn open(settings: &Settings) -> Result<Db, OpenError> {
        sqlx::any::install_default_drivers();
        let mut url = settings.database_url();
        let engine = if url.starts_with("sqlite:") {
            if let Some(path) = url.strip_prefix("sqlite://") {
                let file = path.split('?').next().unwrap_or_default();
                if let Some(parent) = std::path::Path::new(file).parent() {
                    if !parent.as_os_str().is_empty() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| OpenError::Url(format!("{}: {e}", parent.display())))?;
                    }
                }
            }
            Engine::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            if let Some(file) = &settings.database.password_file {
                let password = secret::read_string(file, "set database.password_file")?;
                url = with_password(&url, &password)?;
            }
            Engine::Postgres
        } else {
            return Err(OpenError::Scheme(crate::config::redact_url(&url)));
        };
        let options = AnyConnectOptions::from_str(&url).map_err(OpenError::Connect)?;
        let pool = AnyPoolOptions::new()
            .max_connections(settings.database.max_connections)
            .acquire_timeout(Duration::from_secs(settings.database.acquire_timeout_secs))
            // A connection in steady use is handed out as it is; one that
            // sat idle is pinged first, and a dead one replaced. (sqlx's
            // default pings on every acquire: a round trip more for each
            // of a request's queries.)
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IF_IDLE_FOR {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map_err(OpenError::Connect)?;
        match engine {
            Engine::Sqlite => {
                write_ahead_log(&pool).await?;
                SQLITE_MIGRATIONS.run(&pool).await?
            }
            Engine::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
        }
        // Half the pool, and at least one connection, stays free of them.
        let waiting = (settings.database.max_connections / 2) as usize;
        Ok(Db {
            pool,
            engine,
            waiting: Arc::new(Semaphore::new(waiting)),
        })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Starts a transaction that writes. On SQLite it takes the write lock
    /// at once (`BEGIN IMMEDIATE`, waiting up to the busy timeout): a
    /// transaction that read first would otherwise fail outright with
    /// "database is locked" when another connection committed since its
    /// read, which write-ahead-log mode reports instead of waiting.
    pub async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.engine {
            Engine::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Engine::Postgres => self.pool.begin().await,
        }
    }

    /// Starts a transaction that only reads, and sees the database as it
    /// was at one moment throughout (PostgreSQL: repeatable read; SQLite:
    /// a read transaction of the write-ahead log), whatever commits meanwhile.
    pub async fn begin_snapshot(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.engine {
            Engine::Sqlite => self.pool.begin_with("BEGIN DEFERRED").await,
            Engine::Postgres => {
                self.pool
                    .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                    .await
            }
        }
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Leave to hold a connection, in a transaction, while waiting on
    /// something other than the database (the object store), as long as
    /// the permit lives. At most half the pool is held so at once, so that
    /// a slow store cannot take every connection from requests that need
    /// only the database; `None` while that many are held.
    pub fn hold_while_waiting(&self) -> Option<OwnedSemaphorePermit> {
        self.waiting.clone().try_acquire_owned().ok()
    }

    /// Whether the database answers now.
    pub async fn ping(&self) -> Result<(), DbError> {
        sqlx::query("select 1").execute(&self.pool).await?;
        Ok(())
    }
}

/// Puts an SQLite database in write-ahead-log mode (a setting the file
/// keeps). A commit then costs one append and one sync of the log, where
/// the rollback journal costs several syncs and a file created and removed,
/// and readers no longer wait for a writer. `synchronous` stays at SQLite's
/// default, FULL: the log is synced before a commit returns, so an
/// acknowledged submission survives a power cut. Transactions that write
/// start with [`Db::begin`]. A file system without the shared memory WAL
/// needs (a network mount) keeps the rollback journal, with a warning.
async fn write_ahead_log(pool: &AnyPool) -> Result<(), OpenError> {
    let mode: String = sqlx::query_scalar("pragma journal_mode = wal")
        .fetch_one(pool)
        .await
        .map_err(OpenError::Connect)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(
            journal_mode = %mode,
            "SQLite could not use its write-ahead log here; commits will be slower"
        );
    }
    Ok(())
}

/// Puts a password (percent-encoded) into a connection URL.
fn with_password(url: &str, password: &str) -> Result<String, OpenError> {
    let start = url
        .find("://")
        .map(|i| i + 3)
        .ok_or_else(|| OpenError::Url("no scheme".into()))?;
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let at = rest[..authority_end].rfind('@').ok_or_else(|| {
        OpenError::Url(
            "database.password_file needs a user in the URL (postgres://user@host/db)".into(),
        )
    })?;
    let user = rest[..at].split(':').next().unwrap_or_default();
    let encoded: String = password
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect();
    Ok(format!("{}{user}:{encoded}{}", &url[..start], &rest[at..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_file_goes_into_the_url_encoded() {
        assert_eq!(
            with_password("postgres://ponte@db:5432/ponte", "p@ss word").unwrap(),
            "postgres://ponte:p%40ss%20word@db:5432/ponte"
        );
        assert_eq!(
            with_password("postgres://ponte:old@db/ponte?sslmode=require", "new").unwrap(),
            "postgres://ponte:new@db/ponte?sslmode=require"
        );
        assert!(with_password("postgres://db/ponte", "x").is_err());
    }

    #[tokio::test]
    async fn at_most_half_the_pool_waits_on_something_else() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::for_data_dir(dir.path());
        settings.database.max_connections = 5;
        let db = Db::open(&settings).await.unwrap();
        let first = db
            .hold_while_waiting()
            .expect("a first connection may wait");
        let second = db.hold_while_waiting().expect("a second may");
        assert!(db.hold_while_waiting().is_none(), "a third may not");
        drop(first);
        assert!(
            db.hold_while_waiting().is_some(),
            "one may again once one is done"
        );
        drop(second);

        settings.database.max_connections = 1;
        let single = Db::open(&settings).await.unwrap();
        assert!(
            single.hold_while_waiting().is_none(),
            "the only connection never waits"
        );
    }
}
