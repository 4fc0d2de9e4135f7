//! The document exchange end to end: plans, signed and encrypted
//! submissions, receipts, retrieval, shares, versions, the at-rest seal,
//! and bad input that leaves nothing behind.

mod bad_input;
mod durability;
mod interop;
mod reads_and_shares;
mod submission;
mod versions_and_erasure;

use ponte::documents::party;

use crate::common::TestApp;

pub type Sender = tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>;

/// Starts a submission as the mission whose body arrives as the test sends
/// it, its length undeclared (sent in chunks).
pub fn streamed_submission(
    app: &TestApp,
    case: &str,
    prepared: &party::Prepared,
) -> (
    tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
    Sender,
) {
    submission_sent_in_pieces(app, case, prepared, None)
}

/// [`streamed_submission`] with the body's length declared, as clients
/// sending a file do.
pub fn submission_sent_in_pieces(
    app: &TestApp,
    case: &str,
    prepared: &party::Prepared,
    declared: Option<usize>,
) -> (
    tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
    Sender,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let body =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let client = app.client("iom-tirana");
    let mut request = client
        .http()
        .post(client.url(&format!("/v1/cases/{case}/documents")))
        .header("ponte-manifest", prepared.manifest_token.clone());
    if let Some(length) = declared {
        request = request.header("content-length", length);
    }
    let request = request.body(reqwest::Body::wrap_stream(body));
    (tokio::spawn(request.send()), tx)
}

pub const ASSESSMENT: &[u8] =
    b"Family assessment: the mother lives in Elbasan and wishes the child to return.";

pub async fn assessed_case(app: &TestApp) -> (String, String) {
    let case = app.case_with_mission().await;
    let prepared = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            ASSESSMENT,
        )
        .await;
    let (status, answer) = app.submit("iom-tirana", &case, &prepared).await.unwrap();
    assert_eq!(status, 201);
    (case, answer.document.id.to_string())
}

/// Rotates `party` to `keys` (signing, encryption) in the directory and in
/// its own credential folder, as `ponte init` writes them.
pub async fn rotate_held_keys(app: &TestApp, party: &str, keys: &[ponte::jose::Jwk; 2], at: &str) {
    let id = ponte::parties::PartyId::parse(party).unwrap();
    let public: Vec<_> = keys.iter().map(|k| k.public()).collect();
    ponte::parties::unchecked_rotate_keys(&app.db, &id, &public, at)
        .await
        .unwrap();
    let dir = app.data_dir().join("parties").join(party);
    std::fs::write(dir.join("sign.jwk"), keys[0].to_json()).unwrap();
    std::fs::write(dir.join("enc.jwk"), keys[1].to_json()).unwrap();
}
