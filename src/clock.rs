//! Time is injected through [`Clock`](crate::clock::Clock) so tests can pin it.

use std::fmt;
use std::sync::Arc;

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

/// RFC 3339 text of an instant in UTC with exactly three fractional digits,
/// as stored and served: fixed width, so text order is time order.
pub fn rfc3339(at: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    let at = at.to_offset(time::UtcOffset::UTC);
    // Formatting a UTC instant with this description cannot fail for years 0..=9999.
    at.format(&format)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

/// Parses RFC 3339 text (any offset).
pub fn parse_rfc3339(text: &str) -> Result<OffsetDateTime, time::error::Parse> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_with_milliseconds() {
        let at = time::macros::datetime!(2026-11-22 10:11:12.345678 UTC);
        assert_eq!(rfc3339(at), "2026-11-22T10:11:12.345Z");
        assert_eq!(rfc3339(FixedClock(at).now()), "2026-11-22T10:11:12.345Z");
        // Fixed width, so text order is time order.
        assert_eq!(
            rfc3339(time::macros::datetime!(2026-11-22 10:11:12 UTC)),
            "2026-11-22T10:11:12.000Z"
        );
        assert_eq!(
            rfc3339(time::macros::datetime!(2026-11-22 10:11:12.6 UTC)),
            "2026-11-22T10:11:12.600Z"
        );
        assert_eq!(
            rfc3339(time::macros::datetime!(2026-11-22 11:11:12.5 +01:00)),
            "2026-11-22T10:11:12.500Z"
        );
    }
}
