//! Notices: what the broker tells a party — a consent withdrawn, a return
//! decided, a state changed, a document awaiting share, a correction. Each
//! is broker-signed, lands in the party's inbox (list, read, acknowledge)
//! and, where the party registered a webhook, is pushed from a durable
//! outbox ([`delivery`](crate::notices::delivery)). Notices carry ids only, never personal data.

pub mod delivery;
mod store;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::cases::CaseId;
use crate::jose::jws::{self, KeyResolver};
use crate::jose::{JoseError, Jwk};
use crate::parties::PartyId;
use crate::storage::DbError;

pub use store::{
    acknowledge, for_case, inbox, insert, issue, read, remove_webhook, set_webhook, webhook,
    InboxPage, Webhook, MAX_PAGE,
};

/// The `typ` of a notice JWS (withdrawal notices keep their own, older `typ`).
pub const NOTICE_TYP: &str = "ponte-notice+jws";

/// What a notice is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    /// A consent ended: delete what was received under it, then acknowledge.
    Withdrawal,
    /// A return was decided and scheduled: the municipality prepares it.
    ReturnNotice,
    /// The case moved to another state.
    StateChange,
    /// A court is entitled to a document it has not received: share it.
    ShareRequest,
    /// A document was corrected: replace the earlier version.
    Correction,
}

impl NoticeKind {
    pub const ALL: [NoticeKind; 5] = [
        NoticeKind::Withdrawal,
        NoticeKind::ReturnNotice,
        NoticeKind::StateChange,
        NoticeKind::ShareRequest,
        NoticeKind::Correction,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NoticeKind::Withdrawal => "withdrawal",
            NoticeKind::ReturnNotice => "return_notice",
            NoticeKind::StateChange => "state_change",
            NoticeKind::ShareRequest => "share_request",
            NoticeKind::Correction => "correction",
        }
    }
}

impl FromStr for NoticeKind {
    type Err = NoticeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        NoticeKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| NoticeError::Corrupt(format!("unknown notice kind {s:?}")))
    }
}

impl fmt::Display for NoticeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A notice in an inbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct InboxNotice {
    pub id: String,
    pub kind: NoticeKind,
    pub case: Option<CaseId>,
    pub party: PartyId,
    /// The broker-signed notice (compact JWS): [`Notice`], or for
    /// withdrawals a [`WithdrawalNotice`](crate::consent::receipt::WithdrawalNotice).
    pub notice: String,
    pub created_at: String,
    pub read_at: Option<String>,
    pub acknowledged_at: Option<String>,
    /// When the webhook push succeeded, if the party has a webhook.
    pub delivered_at: Option<String>,
}

/// What a notice states (version 1): its kind, case and recipient, and the
/// kind's own fields (`document`, `from`, `to`, …) alongside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    pub v: u32,
    pub notice: String,
    pub kind: NoticeKind,
    pub case: Option<CaseId>,
    pub recipient: PartyId,
    pub at: String,
    #[serde(flatten)]
    pub body: serde_json::Map<String, serde_json::Value>,
}

impl Notice {
    pub fn sign(&self, broker_key: &Jwk) -> Result<String, JoseError> {
        let bytes = serde_json::to_vec(self).map_err(|e| JoseError::Malformed(e.to_string()))?;
        jws::sign_compact(&bytes, broker_key, &[("typ", NOTICE_TYP)])
    }

    /// Checks a pushed or listed notice against the broker's keys.
    pub fn verify(
        token: &str,
        broker_keys: &(impl KeyResolver + ?Sized),
    ) -> Result<Notice, JoseError> {
        let verified = jws::verify_compact(token, broker_keys)?;
        if verified.header.get("typ").and_then(|t| t.as_str()) != Some(NOTICE_TYP) {
            return Err(JoseError::Malformed(format!("typ must be {NOTICE_TYP}")));
        }
        serde_json::from_slice(&verified.payload).map_err(|e| JoseError::Malformed(e.to_string()))
    }

    /// A string field of the kind's body.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.body.get(name).and_then(|v| v.as_str())
    }
}

/// What can go wrong with notices.
#[derive(Debug, thiserror::Error)]
pub enum NoticeError {
    #[error("notice {0} is not in your inbox")]
    NotFound(String),
    #[error("invalid webhook URL: {0}")]
    InvalidWebhook(String),
    #[error("no webhook is registered")]
    NoWebhook,
    #[error("invalid page cursor {0:?}")]
    InvalidCursor(String),
    #[error("stored notice is not readable: {0}")]
    Corrupt(String),
    #[error("could not sign the notice: {0}")]
    Sign(String),
    #[error("no secure random numbers available")]
    Random,
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for NoticeError {
    fn from(e: sqlx::Error) -> Self {
        NoticeError::Db(e.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip() {
        for kind in NoticeKind::ALL {
            assert_eq!(kind.as_str().parse::<NoticeKind>().unwrap(), kind);
        }
    }

    #[test]
    fn a_notice_verifies_with_the_broker_key_only() {
        let broker = Jwk::generate_ed25519().unwrap();
        let other = Jwk::generate_ed25519().unwrap();
        let mut body = serde_json::Map::new();
        body.insert("to".into(), "entrusted".into());
        let notice = Notice {
            v: 1,
            notice: "ntc-1".into(),
            kind: NoticeKind::StateChange,
            case: None,
            recipient: PartyId::parse("comune-torino").unwrap(),
            at: "2026-11-23T08:00:00.000Z".into(),
            body,
        };
        let token = notice.sign(&broker).unwrap();
        let back = Notice::verify(&token, &[broker.public()][..]).unwrap();
        assert_eq!(back, notice);
        assert_eq!(back.field("to"), Some("entrusted"));
        assert!(Notice::verify(&token, &[other.public()][..]).is_err());
    }
}
