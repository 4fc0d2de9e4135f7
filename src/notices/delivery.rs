//! The webhook outbox. A notice for a party with a webhook gets a delivery
//! row in the same transaction as the notice; every replica's worker claims
//! due rows (an update that only one replica can win), pushes them
//! concurrently — a slow or failing endpoint delays only its own notices —
//! and either records the delivery or schedules the next try with
//! exponential backoff. Nothing is ever given up on, and a restart loses
//! nothing: the outbox is the database. Delivery is at least once; the
//! notice id (header and payload) lets the receiver drop a repeat.

use std::time::Duration;

use futures::future::join_all;
use sqlx::Row;

use super::NoticeError;
use crate::audit::{self, AuditEvent};
use crate::storage::Db;

/// Request headers of a push.
pub const NOTICE_ID_HEADER: &str = "ponte-notice-id";
pub const NOTICE_KIND_HEADER: &str = "ponte-notice-kind";
/// The media type of a pushed notice: a compact JWS.
pub const MEDIA_TYPE: &str = "application/jose";

/// How pushes are timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub timeout: Duration,
    pub retry_base_ms: i64,
    pub retry_max_ms: i64,
    pub batch: u32,
}

impl Policy {
    /// The wait before try `attempts + 1`, after `attempts` failures.
    pub fn backoff_ms(&self, attempts: i64) -> i64 {
        let doublings = attempts.saturating_sub(1).clamp(0, 40) as u32;
        self.retry_base_ms
            .saturating_mul(1i64 << doublings)
            .min(self.retry_max_ms)
    }
}

/// A webhook address: `https`, or `http` to this machine only (a party's
/// local relay, or a test). Anything else is refused.
pub fn check_url(raw: &str) -> Result<String, NoticeError> {
    // The URL parser would quietly percent-encode these; an address that
    // holds them is a mistake (or worse), not a URL.
    let text = raw.trim();
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(NoticeError::InvalidWebhook(format!(
            "{raw:?}: a URL holds no spaces or control characters"
        )));
    }
    let url = reqwest::Url::parse(text)
        .map_err(|e| NoticeError::InvalidWebhook(format!("{raw:?}: {e}")))?;
    let loopback = matches!(url.host(), Some(url::Host::Domain("localhost")))
        || match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            _ => false,
        };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        other => {
            return Err(NoticeError::InvalidWebhook(format!(
                "{raw:?}: the scheme must be https (http only to a loopback address), not {other}"
            )))
        }
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err(NoticeError::InvalidWebhook(format!(
            "{raw:?}: no credentials or fragment in the URL"
        )));
    }
    Ok(url.to_string())
}

/// What one round of the outbox did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Round {
    pub delivered: usize,
    pub failed: usize,
}

struct Due {
    notice: String,
    kind: String,
    url: String,
    attempts: i64,
    token: String,
}

/// Claims the due deliveries (up to a batch), pushes them at once and
/// records each outcome.
pub async fn deliver_due(
    db: &Db,
    http: &reqwest::Client,
    policy: &Policy,
    now_ms: i64,
    now: &str,
) -> Result<Round, NoticeError> {
    let rows = sqlx::query(
        "select d.notice_id, d.url, d.attempts, d.next_at_ms, n.kind, n.notice
         from notice_delivery d join notice n on n.id = d.notice_id
         where d.delivered_at is null and d.next_at_ms <= $1
         order by d.next_at_ms limit $2",
    )
    .bind(now_ms)
    .bind(i64::from(policy.batch))
    .fetch_all(db.pool())
    .await?;
    // A claim moves the row past the push's deadline, so no other replica
    // (or this one's next round) takes it while it is in flight.
    let lease_until = now_ms + policy.timeout.as_millis() as i64 + 5_000;
    let mut claimed = Vec::new();
    for row in &rows {
        let notice: String = row.try_get("notice_id")?;
        let won = sqlx::query(
            "update notice_delivery set next_at_ms = $1
             where notice_id = $2 and next_at_ms = $3 and delivered_at is null",
        )
        .bind(lease_until)
        .bind(&notice)
        .bind(row.try_get::<i64, _>("next_at_ms")?)
        .execute(db.pool())
        .await?
        .rows_affected()
            == 1;
        if won {
            claimed.push(Due {
                notice,
                kind: row.try_get("kind")?,
                url: row.try_get("url")?,
                attempts: row.try_get("attempts")?,
                token: row.try_get("notice")?,
            });
        }
    }
    let outcomes = join_all(claimed.iter().map(|due| push(http, policy, due))).await;
    let mut round = Round::default();
    for (due, outcome) in claimed.iter().zip(outcomes) {
        let attempts = due.attempts + 1;
        let mut tx = db.begin().await?;
        let event = match &outcome {
            Ok(status) => {
                round.delivered += 1;
                sqlx::query(
                    "update notice_delivery set delivered_at = $1, attempts = $2, last_status = $3, last_error = null
                     where notice_id = $4",
                )
                .bind(now)
                .bind(attempts)
                .bind(i64::from(*status))
                .bind(&due.notice)
                .execute(&mut *tx)
                .await?;
                AuditEvent::broker("NoticeDelivered", &format!("notice:{}", due.notice), now)
                    .detail(serde_json::json!({ "kind": due.kind, "attempts": attempts, "status": status }))
            }
            Err((status, error)) => {
                round.failed += 1;
                let next = now_ms + policy.backoff_ms(attempts);
                sqlx::query(
                    "update notice_delivery set attempts = $1, next_at_ms = $2, last_status = $3, last_error = $4
                     where notice_id = $5",
                )
                .bind(attempts)
                .bind(next)
                .bind(status.map(i64::from))
                .bind(error)
                .bind(&due.notice)
                .execute(&mut *tx)
                .await?;
                AuditEvent::broker(
                    "NoticeDeliveryFailed",
                    &format!("notice:{}", due.notice),
                    now,
                )
                .detail(serde_json::json!({
                    "kind": due.kind, "attempts": attempts, "status": status,
                    "retry_in_ms": next - now_ms,
                }))
            }
        };
        audit::append(&mut *tx, &event).await?;
        tx.commit().await?;
    }
    Ok(round)
}

/// One push: 2xx is delivered; anything else, or no answer in time, is not.
async fn push(
    http: &reqwest::Client,
    policy: &Policy,
    due: &Due,
) -> Result<u16, (Option<u16>, String)> {
    let sent = http
        .post(&due.url)
        .timeout(policy.timeout)
        .header(reqwest::header::CONTENT_TYPE, MEDIA_TYPE)
        .header(NOTICE_ID_HEADER, &due.notice)
        .header(NOTICE_KIND_HEADER, &due.kind)
        .body(due.token.clone())
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => Ok(response.status().as_u16()),
        Ok(response) => {
            let status = response.status().as_u16();
            Err((Some(status), format!("the endpoint answered {status}")))
        }
        Err(e) if e.is_timeout() => Err((None, "no answer in time".into())),
        Err(e) => Err((None, format!("could not reach the endpoint: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_ceiling() {
        let policy = Policy {
            timeout: Duration::from_secs(10),
            retry_base_ms: 2_000,
            retry_max_ms: 60_000,
            batch: 8,
        };
        let waits: Vec<i64> = (1..=7).map(|n| policy.backoff_ms(n)).collect();
        assert_eq!(waits, [2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]);
        assert_eq!(policy.backoff_ms(1_000), 60_000);
    }

    #[test]
    fn webhooks_are_https_or_loopback_http() {
        for good in [
            "https://intake.comune.torino.it/ponte",
            "http://127.0.0.1:8080/hook",
            "http://localhost/hook",
            "http://[::1]:9000/",
        ] {
            assert!(check_url(good).is_ok(), "{good}");
        }
        for bad in [
            "http://intake.example.org/hook",
            "ftp://example.org/",
            "https://user:pw@example.org/",
            "not a url",
            "file:///etc/passwd",
            "http://localhost/o*\u{f}h",
            "https://intake.example.org/a b",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }
}
