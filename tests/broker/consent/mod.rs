//! Consent and purpose limitation end to end: consent records, withdrawal
//! by the person's code, its effect on the very next request, withdrawal
//! notices, legal holds and erasure. Every test runs on SQLite and PostgreSQL.

mod erasure;
mod withdrawal;

use ponte::client::ClientError;
use ponte::documents::receipt::jwks_keys;
use serde_json::Value;

use crate::common::TestApp;

pub const ASSESSMENT: &[u8] = b"Family assessment: the mother and two siblings live in Shkoder.";

pub fn problem(err: &ClientError) -> (Option<u16>, Option<&str>) {
    (err.status(), err.code())
}

pub fn detail(err: &ClientError) -> String {
    match err {
        ClientError::Problem { detail, .. } => detail.clone(),
        other => other.to_string(),
    }
}

/// A case with the court attached, the child's consent to the assessment
/// for the municipality, the court and the ministry, and the assessment.
/// Returns (case, document, consent id, code).
pub async fn assessed_case(app: &TestApp) -> (String, String, String, String) {
    let case = app.case_with_mission_without_consent().await;
    app.attach(&case, "tm-roma", "ministry-labour")
        .await
        .unwrap();
    app.add_subject(&case, "subj-child-1", "child").await;
    let recorded = app
        .record_consent(
            &case,
            "subj-child-1",
            &["best_interest_assessment"],
            &["role:municipality", "role:court", "role:ministry"],
        )
        .await;
    let prepared = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            ASSESSMENT,
        )
        .await;
    let (_, answer) = app.submit("iom-tirana", &case, &prepared).await.unwrap();
    (
        case,
        answer.document.id.to_string(),
        recorded.consent.id.to_string(),
        recorded.code.expect("a given consent has a code"),
    )
}

pub async fn broker_keys(app: &TestApp) -> Vec<ponte::jose::Jwk> {
    let jwks: Value = app.anonymous().get("/.well-known/jwks.json").await.unwrap();
    jwks_keys(&jwks)
}
