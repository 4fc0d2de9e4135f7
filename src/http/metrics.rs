//! Prometheus metrics: requests by action and status, their durations, and
//! TLS handshake failures, in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::storage::streaming::StreamingCounts;

/// Request count and summed seconds, by (action, status).
type RequestCounts = BTreeMap<(&'static str, u16), (u64, f64)>;

/// Counters of the running broker.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<RequestCounts>,
    tls_failures: AtomicU64,
}

impl Metrics {
    pub fn record(&self, action: &'static str, status: u16, elapsed: Duration) {
        // A poisoned lock only means another thread panicked while counting.
        let mut requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let entry = requests.entry((action, status)).or_default();
        entry.0 += 1;
        entry.1 += elapsed.as_secs_f64();
    }

    pub fn tls_handshake_failed(&self) {
        self.tls_failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition, with how streaming PUTs to S3
    /// ended when the broker writes to S3.
    pub fn render(&self, streaming: Option<StreamingCounts>) -> String {
        let requests = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        out.push_str("# HELP ponte_requests_total Requests answered, by action and HTTP status.\n");
        out.push_str("# TYPE ponte_requests_total counter\n");
        for ((action, status), (count, _)) in requests.iter() {
            let _ = writeln!(
                out,
                "ponte_requests_total{{action=\"{action}\",status=\"{status}\"}} {count}"
            );
        }
        out.push_str("# HELP ponte_request_duration_seconds Time to answer requests, by action and HTTP status.\n");
        out.push_str("# TYPE ponte_request_duration_seconds summary\n");
        for ((action, status), (count, sum)) in requests.iter() {
            let labels = format!("action=\"{action}\",status=\"{status}\"");
            let _ = writeln!(out, "ponte_request_duration_seconds_sum{{{labels}}} {sum}");
            let _ = writeln!(
                out,
                "ponte_request_duration_seconds_count{{{labels}}} {count}"
            );
        }
        out.push_str("# HELP ponte_tls_handshake_failures_total TLS handshakes that failed.\n");
        out.push_str("# TYPE ponte_tls_handshake_failures_total counter\n");
        let _ = writeln!(
            out,
            "ponte_tls_handshake_failures_total {}",
            self.tls_failures.load(Ordering::Relaxed)
        );
        if let Some(counts) = streaming {
            out.push_str("# HELP ponte_s3_streaming_puts_total Envelopes of 1 MiB up to one part put to S3 while they arrived, by outcome: stored, or given way (written in one piece at the end).\n");
            out.push_str("# TYPE ponte_s3_streaming_puts_total counter\n");
            for (outcome, count) in [("stored", counts.stored), ("given_way", counts.given_way)] {
                let _ = writeln!(
                    out,
                    "ponte_s3_streaming_puts_total{{outcome=\"{outcome}\"}} {count}"
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_action_and_status() {
        let m = Metrics::default();
        m.record("ReadMe", 200, Duration::from_millis(5));
        m.record("ReadMe", 200, Duration::from_millis(5));
        m.record("OpenCase", 403, Duration::from_millis(1));
        let text = m.render(None);
        assert!(
            text.contains("ponte_requests_total{action=\"ReadMe\",status=\"200\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("ponte_requests_total{action=\"OpenCase\",status=\"403\"} 1"),
            "{text}"
        );
        assert!(text
            .contains("ponte_request_duration_seconds_count{action=\"ReadMe\",status=\"200\"} 2"));
    }
}
