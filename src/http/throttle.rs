//! Bounds what callers nobody has identified can write to the audit log.
//!
//! Every refusal is on record, and anyone who reaches the port can be
//! refused: without a client certificate, with one no party holds, or on a
//! consent-code route. Each such refusal costs a durable commit, so per
//! address (an IPv6 address by its /64) only so many are recorded one by
//! one in each window; beyond that the caller is answered 429 with
//! `Retry-After`, and when the window is over one `RefusalsThrottled` event
//! records how many were answered so. Every refusal stays counted; the log
//! grows by a bounded amount per address and window. Refusals of registered
//! parties are never throttled: they are identified and accountable.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::error::ApiError;
use crate::app::AppState;
use crate::audit::{self, AuditEvent, Outcome};

/// The stable code of the 429 answered instead of an unidentified refusal
/// over the allowance.
pub const THROTTLED: &str = "too_many_refusals";

/// The address a request came from, as the listener saw it.
#[derive(Debug, Clone, Copy)]
pub struct PeerAddr(pub IpAddr);

/// Whether to record an unidentified refusal one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Record,
    /// Over the window's allowance: answer 429, counted in the window's
    /// summary; the window ends in this many seconds.
    Throttle {
        retry_after: u64,
    },
}

/// Addresses counted one by one at most; past that, new addresses share
/// one count (a flood from many addresses cannot grow the table without
/// bound, and still gets one allowance between them).
const MAX_ADDRESSES: usize = 65_536;

/// The allowance per address and window.
pub struct RefusalThrottle {
    per_window: u32,
    window: Duration,
    windows: Mutex<HashMap<IpAddr, Window>>,
}

impl std::fmt::Debug for RefusalThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefusalThrottle")
            .field("per_window", &self.per_window)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

struct Window {
    started: Instant,
    recorded: u32,
    throttled: u32,
}

/// A finished window in which some refusals were answered 429 only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Throttled {
    pub count: u32,
    pub window_secs: u64,
}

/// The key an address is counted under: an IPv6 host usually holds a whole
/// /64, so its addresses count together.
fn bucket(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut octets = v6.octets();
                octets[8..].fill(0);
                IpAddr::from(octets)
            }
        },
    }
}

impl RefusalThrottle {
    pub fn new(per_window: u32, window: Duration) -> RefusalThrottle {
        RefusalThrottle {
            per_window,
            window: window.max(Duration::from_secs(1)),
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// The window's length.
    pub fn window(&self) -> Duration {
        self.window
    }

    /// Counts one unidentified refusal from `address` at `now`.
    pub fn admit(&self, address: IpAddr, now: Instant) -> Verdict {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let mut key = bucket(address);
        if windows.len() >= MAX_ADDRESSES && !windows.contains_key(&key) {
            key = IpAddr::from([0u8; 16]);
        }
        let window = windows.entry(key).or_insert(Window {
            started: now,
            recorded: 0,
            throttled: 0,
        });
        // A window that ended with nothing throttled starts over at once;
        // one with throttled refusals waits for `finished` to record them.
        if now.duration_since(window.started) >= self.window && window.throttled == 0 {
            *window = Window {
                started: now,
                recorded: 0,
                throttled: 0,
            };
        }
        let elapsed = now.duration_since(window.started);
        if window.recorded < self.per_window && elapsed < self.window {
            window.recorded += 1;
            return Verdict::Record;
        }
        window.throttled += 1;
        if window.throttled == 1 {
            tracing::warn!(
                peer = %address,
                recorded = window.recorded,
                window_secs = self.window.as_secs(),
                "refusals of unidentified requests from this address are throttled (429) until the window ends"
            );
        }
        let left = self.window.saturating_sub(elapsed);
        Verdict::Throttle {
            retry_after: left.as_secs_f64().ceil().max(1.0) as u64,
        }
    }

    /// Removes the windows that ended by `now` and answers those in which
    /// refusals were throttled, to be put on record.
    pub fn finished(&self, now: Instant) -> Vec<Throttled> {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let mut done = Vec::new();
        windows.retain(|_, window| {
            if now.duration_since(window.started) < self.window {
                return true;
            }
            if window.throttled > 0 {
                done.push(Throttled {
                    count: window.throttled,
                    window_secs: self.window.as_secs(),
                });
            }
            false
        });
        done
    }
}

/// Before an unidentified caller is refused and the refusal recorded:
/// `Ok` to go on, or the 429 to answer instead (counted, not recorded one
/// by one). A request whose address is unknown is always recorded.
pub fn admit(state: &AppState, address: Option<&PeerAddr>) -> Result<(), ApiError> {
    let Some(PeerAddr(address)) = address else {
        return Ok(());
    };
    match state.refusals.admit(*address, Instant::now()) {
        Verdict::Record => Ok(()),
        Verdict::Throttle { retry_after } => Err(ApiError::TooManyRequests {
            code: THROTTLED,
            retry_after,
            detail: format!(
                "too many refused requests from this address; retry in {retry_after} s"
            ),
        }),
    }
}

/// Records the throttled refusals of every finished window, once per
/// window, for as long as the broker runs. The address is not recorded:
/// the log is permanent, and the operational log names it (a warning when
/// the throttling starts).
pub async fn record_forever(state: AppState) {
    let every = state.refusals.window() / 2;
    let mut ticker = tokio::time::interval(every.max(Duration::from_millis(500)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        for throttled in state.refusals.finished(Instant::now()) {
            let event = AuditEvent {
                at: state.now(),
                request_id: None,
                principal: "anonymous".into(),
                action: "RefusalsThrottled".into(),
                resource: "broker".into(),
                outcome: Outcome::Deny,
                policy_ids: Vec::new(),
                policy_set: state.policy.current().version().to_owned(),
                detail: serde_json::json!({
                    "refused": throttled.count,
                    "window_secs": throttled.window_secs,
                }),
            };
            if let Err(e) = audit::append(state.db.pool(), &event).await {
                tracing::warn!(error = %e, refused = throttled.count, "could not record throttled refusals");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_allowance_then_429_and_one_summary_per_window() {
        let throttle = RefusalThrottle::new(3, Duration::from_secs(60));
        let start = Instant::now();
        let here: IpAddr = "192.0.2.7".parse().unwrap();
        let there: IpAddr = "192.0.2.8".parse().unwrap();
        let verdicts: Vec<Verdict> = (0..5)
            .map(|i| throttle.admit(here, start + Duration::from_secs(i)))
            .collect();
        assert_eq!(&verdicts[..3], &[Verdict::Record; 3]);
        assert_eq!(verdicts[3], Verdict::Throttle { retry_after: 57 });
        assert_eq!(verdicts[4], Verdict::Throttle { retry_after: 56 });
        // Another address has its own allowance.
        assert_eq!(throttle.admit(there, start), Verdict::Record);
        // Nothing is summed up before the window ends.
        assert!(throttle
            .finished(start + Duration::from_secs(59))
            .is_empty());
        let done = throttle.finished(start + Duration::from_secs(60));
        assert_eq!(
            done,
            vec![Throttled {
                count: 2,
                window_secs: 60
            }]
        );
        // A new window, a new allowance.
        assert_eq!(
            throttle.admit(here, start + Duration::from_secs(61)),
            Verdict::Record
        );
    }

    #[test]
    fn a_window_without_throttling_starts_over_by_itself() {
        let throttle = RefusalThrottle::new(1, Duration::from_secs(10));
        let start = Instant::now();
        let here: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(throttle.admit(here, start), Verdict::Record);
        assert_eq!(
            throttle.admit(here, start + Duration::from_secs(11)),
            Verdict::Record
        );
        // A throttled window waits for its summary before it starts over.
        assert!(matches!(
            throttle.admit(here, start + Duration::from_secs(12)),
            Verdict::Throttle { .. }
        ));
        assert!(matches!(
            throttle.admit(here, start + Duration::from_secs(22)),
            Verdict::Throttle { retry_after: 1 }
        ));
        assert_eq!(throttle.finished(start + Duration::from_secs(22)).len(), 1);
        assert_eq!(
            throttle.admit(here, start + Duration::from_secs(22)),
            Verdict::Record
        );
    }

    #[test]
    fn past_the_table_size_new_addresses_share_one_allowance() {
        let throttle = RefusalThrottle::new(1, Duration::from_secs(60));
        let now = Instant::now();
        for n in 0..MAX_ADDRESSES as u32 {
            let address = IpAddr::from(n.to_be_bytes());
            assert_eq!(throttle.admit(address, now), Verdict::Record);
        }
        let late: Vec<Verdict> = (0..3u8)
            .map(|n| throttle.admit(IpAddr::from([10, 9, 9, n]), now))
            .collect();
        assert_eq!(late[0], Verdict::Record);
        assert!(matches!(late[1], Verdict::Throttle { .. }));
        assert!(matches!(late[2], Verdict::Throttle { .. }));
        assert!(throttle.windows.lock().unwrap().len() <= MAX_ADDRESSES + 1);
    }

    #[test]
    fn the_addresses_of_one_ipv6_network_count_together() {
        let throttle = RefusalThrottle::new(1, Duration::from_secs(60));
        let now = Instant::now();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(throttle.admit(a, now), Verdict::Record);
        assert!(matches!(throttle.admit(b, now), Verdict::Throttle { .. }));
        assert_eq!(throttle.admit(other, now), Verdict::Record);
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(bucket(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }
}
