//! Time is injected through [`Clock`] so tests can pin it.

use std::fmt;
use std::sync::Arc;

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A source of the current time.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// The operating system's clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// A clock that always answers the same instant (for tests).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub OffsetDateTime);

impl Clock for FixedClock {
    fn now(&self) -> OffsetDateTime {
        self.0
    }
}

/// The clock handle shared by the broker.
pub type SharedClock = Arc<dyn Clock>;

/// RFC 3339 text of an instant, at millisecond precision, as stored and served.
pub fn rfc3339(at: OffsetDateTime) -> String {
    let at = at
        .replace_nanosecond(at.millisecond() as u32 * 1_000_000)
        .unwrap_or(at);
    // Formatting a UTC instant as RFC 3339 cannot fail for years 0..=9999.
    at.format(&Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_with_milliseconds() {
        let at = time::macros::datetime!(2026-11-22 10:11:12.345678 UTC);
        assert_eq!(rfc3339(at), "2026-11-22T10:11:12.345Z");
        assert_eq!(rfc3339(FixedClock(at).now()), "2026-11-22T10:11:12.345Z");
    }
}
