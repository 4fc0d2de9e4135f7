//! `ponte`: see `ponte --help`. The work happens in the library.

use clap::Parser;
use tracing_subscriber::EnvFilter;

use ponte::cli::{Cli, Command};

/// jemalloc, not the system allocator: glibc hands the memory of each large
/// envelope back to the kernel as soon as it is freed, and the next
/// envelope pays for every page again (faulted in and zeroed: a sixth of
/// the broker's CPU time on 4 MiB documents); jemalloc keeps freed pages
/// for reuse for some seconds before it returns them.
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    // ring is the only crypto provider; install it before any client or server exists.
    ponte::http::tls::install_default_provider();
    let cli = Cli::parse();
    let settings = match cli.settings() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("error: {e:#}");
            return std::process::ExitCode::from(2);
        }
    };
    let serving = matches!(cli.command, Command::Serve);
    let filter = if serving {
        settings.log.level.as_str()
    } else {
        "warn"
    };
    let filter = EnvFilter::try_from_env("PONTE_LOG").unwrap_or_else(|_| EnvFilter::new(filter));
    if serving && settings.log.format == "json" {
        tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter)
            .with_current_span(true)
            .with_span_list(false)
            .init();
    } else {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init();
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
