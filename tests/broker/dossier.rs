//! Decision dossiers: what a court downloads, what it says, who may have
//! it, and that any change to the archive is caught offline. Every test
//! runs on SQLite and PostgreSQL.

use std::io::Read;

use ponte::documents::party;
use ponte::documents::receipt::jwks_keys;
use ponte::dossiers::tar;
use ponte::dossiers::verify::{self, Report};
use ponte::jose::KeyUse;
use ponte::notices::{InboxPage, NoticeKind};

use crate::common::{Backend, TestApp};
use crate::on_both_databases;

const ASSESSMENT: &[u8] = b"Family assessment: the grandparents in Vlore can care for the child.";

/// Every file of an archive, in order.
fn files(archive: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut reader = tar::Reader::new(archive);
    let mut out = Vec::new();
    while let Some(entry) = reader.next_entry().unwrap() {
        let mut bytes = Vec::new();
        reader
            .content(&entry, |p| bytes.extend_from_slice(p))
            .unwrap();
        out.push((entry.name, bytes));
    }
    out
}

/// An archive of these files, as the broker writes them.
fn archive(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, bytes) in files {
        out.extend_from_slice(&tar::header(name, bytes.len() as u64, 0).unwrap());
        out.extend_from_slice(bytes);
        out.extend(std::iter::repeat_n(0u8, tar::padding(bytes.len() as u64)));
    }
    out.extend_from_slice(&tar::END);
    out
}

async fn fetch(
    app: &TestApp,
    party: &str,
    case: &str,
) -> Result<Vec<u8>, ponte::client::ClientError> {
    let path = app.data_dir().join(format!("{party}-{case}.tar"));
    app.client(party).dossier(case, &path).await?;
    let mut bytes = Vec::new();
    std::fs::File::open(&path)
        .unwrap()
        .read_to_end(&mut bytes)
        .unwrap();
    Ok(bytes)
}

async fn check(app: &TestApp, bytes: &[u8]) -> Report {
    let jwks: serde_json::Value = app.anonymous().get("/.well-known/jwks.json").await.unwrap();
    verify::verify(bytes, &jwks_keys(&jwks)).unwrap()
}

fn failures(report: &Report) -> Vec<String> {
    report
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| c.what.clone())
        .collect()
}

/// A case under judicial review: the assessment and a social report were
/// submitted before the court was attached, so it is not their recipient.
async fn case_before_the_court(app: &TestApp) -> (String, String, String) {
    let case = app.case_with_mission().await;
    let assessment = app
        .submit_new(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            ASSESSMENT,
        )
        .await;
    let report = app
        .submit_new(
            "comune-torino",
            &case,
            "social_report",
            "best_interest_assessment",
            b"social report",
        )
        .await;
    app.attach(&case, "tm-roma", "ministry-labour")
        .await
        .unwrap();
    (
        case,
        assessment.document.id.to_string(),
        report.document.id.to_string(),
    )
}

async fn share_with_court(app: &TestApp, document: &str) {
    let ministry = app.client("ministry-labour");
    let fetched = ministry.envelope(document, "case_oversight").await.unwrap();
    let court: serde_json::Value = ministry.get("/v1/parties/tm-roma/jwks.json").await.unwrap();
    let key = jwks_keys(&court)
        .into_iter()
        .find(|k| k.key_use == KeyUse::Encrypt)
        .unwrap();
    let entry = party::share_entry(
        &fetched.envelope,
        &[app.private_key("ministry-labour", KeyUse::Encrypt)],
        &key,
    )
    .unwrap();
    ministry
        .share(document, "tm-roma", "judicial_decision", &entry)
        .await
        .unwrap();
}

async fn a_court_gets_what_it_is_entitled_to_and_the_ministry_is_asked_for_the_rest(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let (case, assessment, report) = case_before_the_court(&app).await;
    let decision = app
        .submit_new(
            "tm-roma",
            &case,
            "court_decision",
            "judicial_decision",
            b"hearing set",
        )
        .await;

    let first = fetch(&app, "tm-roma", &case).await.unwrap();
    let checked = check(&app, &first).await;
    assert!(checked.ok(), "{:?}", failures(&checked));
    let manifest = checked.manifest.unwrap();
    let listed: Vec<String> = manifest
        .documents
        .iter()
        .map(|d| d.id.to_string())
        .collect();
    assert_eq!(listed, [decision.document.id.to_string()]);
    let awaiting: Vec<String> = manifest
        .awaiting_share
        .iter()
        .map(|d| d.id.to_string())
        .collect();
    assert_eq!(awaiting, [assessment.clone(), report.clone()]);
    assert!(manifest.awaiting_share.iter().all(|a| a
        .requested_from
        .iter()
        .any(|p| p.as_str() == "ministry-labour")));
    assert_eq!(manifest.basis.as_str(), "legal_obligation");
    let types = manifest
        .documents
        .iter()
        .map(|d| d.document_type)
        .chain(manifest.awaiting_share.iter().map(|d| d.document_type));
    assert!(
        types
            .into_iter()
            .all(|t| t != ponte::documents::DocumentType::ConsentForm),
        "the consent form is not the court's"
    );

    let requests = |app: &TestApp| {
        let client = app.client("ministry-labour");
        async move {
            client
                .get::<InboxPage>(&format!(
                    "/v1/notices?kind={}",
                    NoticeKind::ShareRequest.as_str()
                ))
                .await
                .unwrap()
                .notices
                .len()
        }
    };
    assert_eq!(
        requests(&app).await,
        2,
        "one share request per awaited document"
    );
    fetch(&app, "tm-roma", &case).await.unwrap();
    assert_eq!(
        requests(&app).await,
        2,
        "asking again does not repeat the request"
    );

    share_with_court(&app, &assessment).await;
    share_with_court(&app, &report).await;
    let second = fetch(&app, "tm-roma", &case).await.unwrap();
    let checked = check(&app, &second).await;
    assert!(checked.ok(), "{:?}", failures(&checked));
    let manifest = checked.manifest.unwrap();
    assert_eq!(manifest.documents.len(), 3);
    assert!(manifest.awaiting_share.is_empty());
    let assessed = manifest
        .documents
        .iter()
        .find(|d| d.id.as_str() == assessment)
        .unwrap();
    assert_eq!(assessed.collected_basis.as_str(), "consent");
    assert_eq!(assessed.consents.len(), 1, "the consent in force is listed");
    assert_eq!(assessed.consents[0].state, "given");
    assert_eq!(assessed.shared_entries.len(), 1);

    // The envelope in the archive opens with the court's key like any JWE.
    let inside = files(&second);
    let envelope = &inside
        .iter()
        .find(|(n, _)| n.ends_with(&format!("documents/{assessment}.jwe")))
        .unwrap()
        .1;
    let jwe = ponte::jose::jwe::Jwe::parse(envelope).unwrap();
    let inner = jwe
        .decrypt(&app.private_key("tm-roma", KeyUse::Encrypt))
        .unwrap();
    let author: serde_json::Value = app
        .client("tm-roma")
        .get("/v1/parties/iom-tirana/jwks.json")
        .await
        .unwrap();
    let opened =
        ponte::jose::jws::verify_compact(std::str::from_utf8(&inner).unwrap(), &jwks_keys(&author))
            .unwrap();
    assert_eq!(opened.payload, ASSESSMENT);

    let retrievals: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where action = 'DossierRetrieved' and resource = $1",
    )
    .bind(format!("case:{case}"))
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(retrievals, 3, "every retrieval is evidence");
}

async fn any_change_to_a_dossier_is_caught_offline(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (case, assessment, report) = case_before_the_court(&app).await;
    share_with_court(&app, &assessment).await;
    share_with_court(&app, &report).await;
    let original = files(&fetch(&app, "tm-roma", &case).await.unwrap());
    assert!(
        check(&app, &archive(&original)).await.ok(),
        "the rebuilt archive is the same"
    );

    let envelope_at = original
        .iter()
        .position(|(n, _)| n.ends_with(&format!("{assessment}.jwe")))
        .unwrap();
    let mut flipped = original.clone();
    let middle = flipped[envelope_at].1.len() / 2;
    flipped[envelope_at].1[middle] ^= 1;
    let report_of = check(&app, &archive(&flipped)).await;
    assert!(!report_of.ok());
    assert!(
        failures(&report_of).iter().any(|f| f.contains(&assessment)),
        "{:?}",
        failures(&report_of)
    );

    let mut removed = original.clone();
    removed.remove(envelope_at);
    let report_of = check(&app, &archive(&removed)).await;
    assert!(
        failures(&report_of)
            .iter()
            .any(|f| f.contains("missing (removed)")),
        "{:?}",
        failures(&report_of)
    );

    let mut inserted = original.clone();
    let folder = original[0].0.split('/').next().unwrap().to_owned();
    inserted.push((format!("{folder}/documents/doc-forged.jwe"), b"{}".to_vec()));
    let report_of = check(&app, &archive(&inserted)).await;
    assert!(
        failures(&report_of).iter().any(|f| f.contains("inserted")),
        "{:?}",
        failures(&report_of)
    );

    let mut resigned = original.clone();
    let manifest_at = original
        .iter()
        .position(|(n, _)| n.ends_with("dossier.jws"))
        .unwrap();
    let forger = ponte::jose::Jwk::generate_ed25519().unwrap();
    let mut payload = check(&app, &archive(&original)).await.manifest.unwrap();
    payload.awaiting_share.clear();
    payload.documents.pop();
    resigned[manifest_at].1 = payload.sign(&forger).unwrap().into_bytes();
    let report_of = check(&app, &archive(&resigned)).await;
    assert!(
        !report_of.ok(),
        "a manifest signed by anyone but the broker is refused"
    );

    let mut swapped = original.clone();
    let other_at = original
        .iter()
        .position(|(n, _)| n.ends_with(&format!("{report}.jwe")))
        .unwrap();
    let (a, b) = (swapped[envelope_at].1.clone(), swapped[other_at].1.clone());
    swapped[envelope_at].1 = b;
    swapped[other_at].1 = a;
    assert!(
        !check(&app, &archive(&swapped)).await.ok(),
        "envelopes swapped between documents are caught"
    );
}

async fn only_a_court_on_the_case_gets_its_dossier(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (case, _, _) = case_before_the_court(&app).await;
    for party in ["comune-torino", "ministry-labour", "iom-tirana"] {
        let err = fetch(&app, party, &case).await.unwrap_err();
        assert_eq!(err.status(), Some(403), "{party}");
    }
    let other = app.case_with_mission().await;
    let err = fetch(&app, "tm-roma", &other).await.unwrap_err();
    assert_eq!(err.status(), Some(403), "another court's case");
    let err = fetch(&app, "tm-roma", "case-aaaaaaaaaaaaaaaaaaaaaaaaaa")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    let denials: i64 = sqlx::query_scalar(
        "select count(*) from audit_event where action = 'ReadDossier' and decision = 'deny'",
    )
    .fetch_one(app.db.pool())
    .await
    .unwrap();
    assert_eq!(denials, 4, "every refusal is audited");
}

on_both_databases!(
    a_court_gets_what_it_is_entitled_to_and_the_ministry_is_asked_for_the_rest,
    any_change_to_a_dossier_is_caught_offline,
    only_a_court_on_the_case_gets_its_dossier,
);
