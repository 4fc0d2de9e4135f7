//! What the benchmark runs against: the broker as its own process, and the
//! services of `scripts/with-services`.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// `ponte serve` as its own process, stopped when dropped.
pub struct Broker {
    pub child: Child,
    pub url: String,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The S3 bucket of `scripts/with-services`, when `PONTE_BENCH_S3` is set.
pub struct S3 {
    pub endpoint: String,
    pub bucket: String,
    pub key_id: String,
    pub secret: String,
}

pub fn s3_from_env() -> Option<S3> {
    std::env::var("PONTE_BENCH_S3").ok()?;
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("{name}: run under scripts/with-services"))
    };
    Some(S3 {
        endpoint: var("PONTE_TEST_S3_ENDPOINT"),
        bucket: var("PONTE_TEST_S3_BUCKET"),
        key_id: var("PONTE_TEST_S3_ACCESS_KEY_ID"),
        secret: var("PONTE_TEST_S3_SECRET_ACCESS_KEY"),
    })
}

/// A fresh database on the PostgreSQL cluster of `scripts/with-services`,
/// when `PONTE_BENCH_POSTGRES` is set.
pub async fn postgres_from_env() -> Option<String> {
    use sqlx::Connection;
    std::env::var("PONTE_BENCH_POSTGRES").ok()?;
    let admin = std::env::var("PONTE_TEST_POSTGRES_URL")
        .expect("PONTE_TEST_POSTGRES_URL: run under scripts/with-services");
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&admin).await.unwrap();
    let mut suffix = [0u8; 6];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut suffix).unwrap();
    let name = format!("ponte_bench_{}", ponte::pki::hex(&suffix));
    sqlx::Executor::execute(&mut conn, format!("create database {name}").as_str())
        .await
        .unwrap();
    let (base, _) = admin.rsplit_once('/').expect("URL with a database");
    Some(format!("{base}/{name}"))
}

/// Starts `ponte serve` on a free port in `data_dir`, on S3 and PostgreSQL
/// when they are given (otherwise the local directory and SQLite).
pub fn start_broker(data_dir: &Path, s3: Option<&S3>, postgres: Option<&str>) -> Broker {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut command = Command::new(env!("CARGO_BIN_EXE_ponte"));
    if let Some(s3) = s3 {
        let secret = data_dir.join("s3-secret");
        ponte::secret::create(&secret, s3.secret.as_bytes()).unwrap();
        command
            .env("PONTE__OBJECTS__BACKEND", "s3")
            .env("PONTE__OBJECTS__S3__ENDPOINT", &s3.endpoint)
            .env("PONTE__OBJECTS__S3__BUCKET", &s3.bucket)
            .env("PONTE__OBJECTS__S3__ACCESS_KEY_ID", &s3.key_id)
            .env("PONTE__OBJECTS__S3__SECRET_ACCESS_KEY_FILE", &secret)
            .env("PONTE__OBJECTS__S3__TIMEOUT_SECS", "120");
    }
    if let Some(url) = postgres {
        command.env("PONTE__DATABASE__URL", url);
    }
    let child = command
        .arg("--data-dir")
        .arg(data_dir)
        .arg("serve")
        .env("PONTE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env(
            "PONTE__POLICY__DIR",
            Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"),
        )
        .env("PONTE__LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start ponte serve");
    Broker {
        child,
        url: format!("https://127.0.0.1:{port}"),
    }
}

/// What a process has used so far (Linux): CPU time, user and system,
/// minor page faults (pages the kernel had to supply, zeroed, on first
/// touch: memory freed back to the system and allocated again shows here),
/// and context switches of its threads now running (a thread that waits,
/// for a socket or to be woken by another, gives up its core each time).
#[derive(Debug, Clone, Copy)]
pub struct Usage {
    pub cpu: Duration,
    pub faults: u64,
    pub switches: u64,
}

impl Usage {
    pub fn of(pid: u32) -> Usage {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The fields after the command name, which is in parentheses; the
        // first of them (the state) is field 3 of proc(5).
        let fields: Vec<u64> = stat
            .rsplit_once(')')
            .map(|(_, rest)| {
                rest.split_whitespace()
                    .map(|f| f.parse().unwrap_or(0))
                    .collect()
            })
            .unwrap_or_default();
        let field = |n: usize| fields.get(n - 3).copied().unwrap_or(0);
        Usage {
            // utime and stime (fields 14 and 15), in clock ticks of 1/100 s.
            cpu: Duration::from_millis((field(14) + field(15)) * 10),
            // minflt (field 10).
            faults: field(10),
            switches: switches(pid),
        }
    }

    /// What was used since `earlier`, per operation of `n`.
    pub fn per(self, earlier: Usage, n: usize) -> Usage {
        Usage {
            cpu: self.cpu.saturating_sub(earlier.cpu) / n as u32,
            faults: self.faults.saturating_sub(earlier.faults) / n as u64,
            switches: self.switches.saturating_sub(earlier.switches) / n as u64,
        }
    }
}

/// Voluntary and involuntary context switches of every thread of a process.
fn switches(pid: u32) -> u64 {
    let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    threads
        .flatten()
        .filter_map(|thread| std::fs::read_to_string(thread.path().join("status")).ok())
        .flat_map(|status| {
            status
                .lines()
                .filter(|l| l.contains("ctxt_switches:"))
                .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// Peak and current resident set of a process, in MiB (Linux).
pub fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 1024.0
    };
    (field("VmHWM:"), field("VmRSS:"))
}
