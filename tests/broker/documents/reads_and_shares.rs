//! After a submission: a court entitled later reads by a share, a share
//! to a party not entitled is refused, and refused reads are on record.

use ponte::audit::{self, Outcome};
use ponte::documents::party;
use ponte::jose::jwe::Jwe;
use ponte::jose::KeyUse;

use super::{assessed_case, ASSESSMENT};
use crate::common::{Backend, TestApp};

crate::on_both_databases!(
    a_court_attached_later_reads_the_assessment_after_a_share,
    a_share_to_a_party_not_entitled_is_refused,
    refused_reads_are_on_record_with_their_codes,
);

async fn a_court_attached_later_reads_the_assessment_after_a_share(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (case, doc) = assessed_case(&app).await;
    let before = app
        .client("iom-tirana")
        .envelope(&doc, "best_interest_assessment")
        .await
        .unwrap();
    app.attach(&case, "tm-roma", "ministry-labour")
        .await
        .unwrap();
    let err = app
        .client("tm-roma")
        .envelope(&doc, "judicial_decision")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403), "not yet a recipient");

    let court_key = app.private_key("tm-roma", KeyUse::Encrypt).public();
    let entry = party::share_entry(
        &before.envelope,
        &[app.private_key("iom-tirana", KeyUse::Encrypt)],
        &court_key,
    )
    .unwrap();
    let shared = app
        .client("iom-tirana")
        .share(&doc, "tm-roma", "judicial_decision", &entry)
        .await
        .unwrap();
    assert_eq!(shared.kid, court_key.kid);
    let again = app
        .client("iom-tirana")
        .share(&doc, "tm-roma", "judicial_decision", &entry)
        .await
        .unwrap_err();
    assert_eq!(
        (again.status(), again.code()),
        (Some(409), Some("already_recipient"))
    );

    let opened = app
        .open("tm-roma", &doc, "judicial_decision")
        .await
        .unwrap();
    assert_eq!(opened.plaintext, ASSESSMENT);
    assert!(!opened.as_submitted);
    let after = app
        .client("ministry-labour")
        .envelope(&doc, "case_oversight")
        .await
        .unwrap();
    let (old, new) = (
        Jwe::parse(&before.envelope).unwrap(),
        Jwe::parse(&after.envelope).unwrap(),
    );
    assert_eq!(
        (&old.protected, &old.iv, &old.ciphertext, &old.tag),
        (&new.protected, &new.iv, &new.ciphertext, &new.tag)
    );
    assert_eq!(new.recipients.len(), old.recipients.len() + 1);
    // The length announced up front counts the spliced entry.
    let ministry = app.client("ministry-labour");
    let response = ministry
        .http()
        .get(ministry.url(&format!(
            "/v1/documents/{doc}/envelope?purpose=case_oversight"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(response.content_length(), Some(after.envelope.len() as u64));
    assert_eq!(response.bytes().await.unwrap().len(), after.envelope.len());
    assert_eq!(
        app.open("comune-torino", &doc, "best_interest_assessment")
            .await
            .unwrap()
            .plaintext,
        ASSESSMENT
    );
}

async fn a_share_to_a_party_not_entitled_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_case, doc) = assessed_case(&app).await;
    let fetched = app
        .client("iom-tirana")
        .envelope(&doc, "best_interest_assessment")
        .await
        .unwrap();
    let mine = [app.private_key("iom-tirana", KeyUse::Encrypt)];
    let dakar = app.private_key("iom-dakar", KeyUse::Encrypt).public();
    let entry = party::share_entry(&fetched.envelope, &mine, &dakar).unwrap();
    let err = app
        .client("iom-tirana")
        .share(&doc, "iom-dakar", "best_interest_assessment", &entry)
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(403), Some("forbidden")),
        "Dakar is not on the case"
    );
    // A non-holder cannot share either, and an entry for a key the party does not own is refused.
    let court = app.private_key("tm-roma", KeyUse::Encrypt).public();
    let err = app
        .client("iom-tirana")
        .share(
            &doc,
            "iom-rome",
            "best_interest_assessment",
            &party::share_entry(&fetched.envelope, &mine, &court).unwrap(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(422), Some("recipient_not_in_plan"))
    );
    let err = app
        .client("iom-dakar")
        .share(&doc, "iom-rome", "best_interest_assessment", &entry)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));
    let err = app
        .client("iom-tirana")
        .share(&doc, "nobody-here", "best_interest_assessment", &entry)
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(422), Some("unknown_party"))
    );

    // Refusals for what was asked are on record with their codes, beside
    // the policy's own refusals (its decisions).
    let events = audit::recent(&app.db, 100).await.unwrap();
    let codes = |action: &str| {
        let mut codes: Vec<String> = events
            .iter()
            .filter(|(_, e)| e.action == action)
            .map(|(_, e)| e.detail["code"].as_str().unwrap_or_default().to_owned())
            .collect();
        codes.sort();
        codes
    };
    assert_eq!(
        codes("DocumentShareRejected"),
        ["recipient_not_in_plan", "unknown_party"]
    );
    assert_eq!(
        events
            .iter()
            .filter(|(_, e)| e.action == "ShareDocument" && e.outcome == Outcome::Deny)
            .count(),
        2,
        "Dakar as recipient, Dakar as holder"
    );
}

async fn refused_reads_are_on_record_with_their_codes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_case, doc) = assessed_case(&app).await;
    let reader = app.client("comune-torino");
    let err = reader
        .envelope("doc-aaaaaaaaaaaaaaaaaaaaaaaaaa", "best_interest_assessment")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
    let err = reader.envelope(&doc, "no_such_purpose").await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    let err = app
        .client("iom-dakar")
        .envelope(&doc, "best_interest_assessment")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(403));

    let events = audit::recent(&app.db, 100).await.unwrap();
    let mut rejected: Vec<(String, String)> = events
        .iter()
        .filter(|(_, e)| e.action == "DocumentReadRejected")
        .map(|(_, e)| {
            (
                e.resource.clone(),
                e.detail["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    rejected.sort();
    assert_eq!(rejected.len(), 2, "{rejected:?}");
    assert!(rejected.iter().all(|(_, code)| !code.is_empty()));
    assert!(rejected
        .iter()
        .any(|(resource, _)| resource == &format!("document:{doc}")));
    // The policy's refusal is its decision, not recorded twice.
    assert_eq!(
        events
            .iter()
            .filter(|(_, e)| e.action == "ReadDocument" && e.outcome == Outcome::Deny)
            .count(),
        1
    );
}
