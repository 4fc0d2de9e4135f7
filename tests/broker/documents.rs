//! The document exchange end to end: plans, signed and encrypted
//! submissions, receipts, retrieval, shares, versions, the at-rest seal,
//! and bad input that leaves nothing behind.

use ponte::audit::{self, Outcome};
use ponte::clock::rfc3339;
use ponte::documents::exchange;
use ponte::documents::party;
use ponte::documents::receipt::{jwks_keys, Receipt};
use ponte::jose::jwe::Jwe;
use ponte::jose::KeyUse;
use serde_json::Value;

use crate::common::{self, Backend, TestApp};

crate::on_both_databases!(
    the_plan_names_the_entitled_parties_and_their_active_keys,
    a_mission_submits_an_assessment_and_each_recipient_opens_it,
    a_mission_sealing_with_another_jose_library_submits_and_every_recipient_opens_it,
    a_mission_on_a_p256_only_jose_library_submits_and_every_recipient_opens_it,
    parties_whose_keys_are_on_p256_sign_seal_and_open_like_the_others,
    the_broker_stores_only_ciphertext_under_its_own_seal,
    retrying_a_submission_returns_the_original_receipt_and_stores_nothing_twice,
    retries_sent_at_once_store_the_document_once,
    bad_submissions_are_refused_and_nothing_is_stored,
    a_court_attached_later_reads_the_assessment_after_a_share,
    a_share_to_a_party_not_entitled_is_refused,
    a_correction_supersedes_and_both_versions_are_kept,
    destroying_the_case_key_makes_the_case_unreadable,
    an_oversize_envelope_is_refused_before_its_body_is_read,
    an_upload_that_never_completes_is_invisible_and_swept,
    an_upload_swept_while_in_flight_never_becomes_a_document,
    a_submission_whose_object_cannot_be_written_leaves_no_document,
    an_upload_cut_off_by_a_stop_of_the_broker_leaves_nothing_after_the_sweep,
    refused_reads_are_on_record_with_their_codes,
);

type Sender = tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>;

/// Starts a submission as the mission whose body arrives as the test sends
/// it, its length undeclared (sent in chunks).
fn streamed_submission(
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
fn submission_sent_in_pieces(
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

const ASSESSMENT: &[u8] =
    b"Family assessment: the mother lives in Elbasan and wishes the child to return.";

async fn assessed_case(app: &TestApp) -> (String, String) {
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

async fn the_plan_names_the_entitled_parties_and_their_active_keys(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission().await;
    let plan = app
        .client("iom-tirana")
        .plan(
            &case,
            "family_assessment",
            "best_interest_assessment",
            &["subj-child-1"],
        )
        .await
        .unwrap();
    let mut parties: Vec<&str> = plan.recipients.iter().map(|p| p.party.as_str()).collect();
    parties.sort();
    assert_eq!(
        parties,
        ["comune-torino", "iom-rome", "iom-tirana", "ministry-labour"]
    );
    assert!(plan
        .recipients
        .iter()
        .all(|p| p.keys.len() == 1 && p.keys[0]["use"] == "enc"));
    assert_eq!(serde_json::to_value(plan.basis).unwrap(), "consent");

    let plan = app
        .client("iom-tirana")
        .plan(
            &case,
            "child_hearing",
            "judicial_decision",
            &["subj-child-1"],
        )
        .await
        .unwrap();
    let parties: Vec<&str> = plan.recipients.iter().map(|p| p.party.as_str()).collect();
    assert_eq!(parties, ["ministry-labour"], "no unnecessary communication: a hearing goes to the court and guardian only, once attached");

    let err = app
        .client("iom-dakar")
        .plan(
            &case,
            "family_assessment",
            "best_interest_assessment",
            &["subj-child-1"],
        )
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(403), Some("forbidden")));
    let err = app
        .client("iom-tirana")
        .plan(&case, "family_assessment", "marketing", &["subj-child-1"])
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(400), Some("unknown_purpose"))
    );
    let err = app
        .client("iom-tirana")
        .plan(&case, "love_letter", "family_tracing", &["subj-child-1"])
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(422), Some("invalid_document_type"))
    );
}

async fn a_mission_submits_an_assessment_and_each_recipient_opens_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
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

    let jwks: Value = app.anonymous().get("/.well-known/jwks.json").await.unwrap();
    let receipt = Receipt::verify(&answer.receipt, &jwks_keys(&jwks)).unwrap();
    assert_eq!(receipt.document_id, prepared.manifest.document_id);
    assert_eq!(receipt.submitter, "iom-tirana");
    assert_eq!(receipt.envelope_sha256, prepared.manifest.envelope_sha256);
    assert_eq!(receipt.size, prepared.envelope.len() as u64);

    let doc = answer.document.id.to_string();
    for reader in ["ministry-labour", "iom-rome", "comune-torino", "iom-tirana"] {
        let opened = app
            .open(reader, &doc, "best_interest_assessment")
            .await
            .unwrap();
        assert_eq!(opened.plaintext, ASSESSMENT, "{reader}");
        assert!(opened.as_submitted);
    }
    let err = app
        .client("iom-dakar")
        .envelope(&doc, "best_interest_assessment")
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(403), Some("forbidden")));

    let (_, read) = audit::recent(&app.db, 20)
        .await
        .unwrap()
        .into_iter()
        .find(|(_, e)| e.action == "ReadDocument" && e.principal == "party:comune-torino")
        .unwrap();
    assert_eq!(read.outcome, Outcome::Allow);
    assert_eq!(read.resource, format!("document:{doc}"));
    assert_eq!(
        read.detail["context"]["purpose"],
        "best_interest_assessment"
    );
    assert_eq!(read.policy_ids, ["recipient-reads-document"]);

    let listed: Vec<Value> = app
        .client("comune-torino")
        .get(&format!("/v1/cases/{case}/documents"))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["document_type"], "family_assessment");
    assert_eq!(listed[0]["author"], "iom-tirana");
    assert!(listed[0].get("content").is_none());
    let listed: Vec<Value> = app
        .client("iom-dakar")
        .get(&format!("/v1/cases/{case}/documents"))
        .await
        .unwrap_or_default();
    assert!(listed.is_empty());
}

/// A party need not use Ponte's client: a submission made entirely with
/// jwcrypto or joserfc (Python) or panva/jose (Node) — the manifest signed,
/// the document signed (compact or JSON serialization) and sealed, with
/// `alg` per recipient or in the shared header — passes the broker's
/// checks, opens for every recipient, and opens for a court after a share,
/// with Ponte and with the library.
async fn a_mission_sealing_with_another_jose_library_submits_and_every_recipient_opens_it(
    backend: Backend,
) {
    use common::OtherJose::{Joserfc, Jwcrypto, NodeJose};
    let app = TestApp::spawn(backend).await;
    submit_with_other_libraries_and_share(
        &app,
        &[
            (Jwcrypto, "seal"),
            (NodeJose, "seal"),
            (NodeJose, "seal-json"),
            (NodeJose, "seal-shared-headers"),
            (Joserfc, "seal"),
            (Joserfc, "seal-json"),
        ],
    )
    .await;
}

/// Libraries without X25519 or Ed25519 — go-jose (Go), latchset's `jose`
/// (C) and node-jose (Node) — serve parties whose keys are all on P-256
/// the same way.
async fn a_mission_on_a_p256_only_jose_library_submits_and_every_recipient_opens_it(
    backend: Backend,
) {
    use common::OtherJose::{CiscoNodeJose, GoJose, LatchsetJose};
    let app = TestApp::spawn(backend).await;
    let at = rfc3339(time::OffsetDateTime::now_utc());
    for party in [
        "iom-tirana",
        "ministry-labour",
        "iom-rome",
        "comune-torino",
        "tm-roma",
    ] {
        let keys = [
            ponte::jose::Jwk::generate_p256(KeyUse::Sign).unwrap(),
            ponte::jose::Jwk::generate_p256(KeyUse::Encrypt).unwrap(),
        ];
        rotate_held_keys(&app, party, &keys, &at).await;
    }
    submit_with_other_libraries_and_share(
        &app,
        &[
            (GoJose, "seal"),
            (LatchsetJose, "seal"),
            (CiscoNodeJose, "seal"),
        ],
    )
    .await;
}

/// Rotates `party` to `keys` (signing, encryption) in the directory and in
/// its own credential folder, as `ponte init` writes them.
async fn rotate_held_keys(app: &TestApp, party: &str, keys: &[ponte::jose::Jwk; 2], at: &str) {
    let id = ponte::parties::PartyId::parse(party).unwrap();
    let public: Vec<_> = keys.iter().map(|k| k.public()).collect();
    ponte::parties::unchecked_rotate_keys(&app.db, &id, &public, at)
        .await
        .unwrap();
    let dir = app.data_dir().join("parties").join(party);
    std::fs::write(dir.join("sign.jwk"), keys[0].to_json()).unwrap();
    std::fs::write(dir.join("enc.jwk"), keys[1].to_json()).unwrap();
}

/// For each (library, seal command): the mission seals the assessment and
/// signs the manifest with the library alone, submits, and every recipient
/// opens it with Ponte. Then a court attached later gets each document by
/// a share and opens it with Ponte and with the library: the entry Ponte
/// added must open for the library too.
async fn submit_with_other_libraries_and_share(app: &TestApp, seals: &[(common::OtherJose, &str)]) {
    let case = app.case_with_mission().await;
    let plan = app
        .client("iom-tirana")
        .plan(
            &case,
            "family_assessment",
            "best_interest_assessment",
            &["subj-child-1"],
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let document = dir.path().join("assessment.txt");
    std::fs::write(&document, ASSESSMENT).unwrap();
    let author_key = app.data_dir().join("parties/iom-tirana/sign.jwk");
    let mut args: Vec<std::ffi::OsString> = vec![
        "seal".into(),
        document.into(),
        "text/plain".into(),
        author_key.clone().into(),
    ];
    for (i, key) in plan.recipients.iter().flat_map(|p| &p.keys).enumerate() {
        let file = dir.path().join(format!("recipient-{i}.jwk"));
        std::fs::write(&file, key.to_string()).unwrap();
        args.push(file.into());
    }
    let mut documents = Vec::new();
    for &(library, seal) in seals {
        args[0] = seal.into();
        let mut prepared = app
            .prepare(
                "iom-tirana",
                &case,
                "family_assessment",
                "best_interest_assessment",
                b"replaced below",
            )
            .await;
        prepared.envelope = library.run(&args).trim().as_bytes().to_vec();
        prepared.manifest.envelope_sha256 = ponte::documents::sha256_hex(&prepared.envelope);
        // The manifest is signed by the same library: nothing of the
        // submission comes from Ponte's JOSE code.
        let manifest = dir.path().join("manifest.json");
        std::fs::write(&manifest, serde_json::to_vec(&prepared.manifest).unwrap()).unwrap();
        prepared.manifest_token = library
            .run(&[
                std::ffi::OsStr::new("sign-manifest"),
                manifest.as_os_str(),
                author_key.as_os_str(),
            ])
            .trim()
            .to_owned();
        let (status, answer) = app.submit("iom-tirana", &case, &prepared).await.unwrap();
        assert_eq!(status, 201, "{library:?} {seal}");
        let doc = answer.document.id.to_string();
        for reader in ["ministry-labour", "iom-rome", "comune-torino", "iom-tirana"] {
            let opened = app
                .open(reader, &doc, "best_interest_assessment")
                .await
                .unwrap();
            assert_eq!(opened.plaintext, ASSESSMENT, "{library:?} {seal}, {reader}");
            assert_eq!(opened.media_type.as_deref(), Some("text/plain"));
            assert!(opened.as_submitted);
        }
        documents.push((doc, library, seal));
    }
    // A court attached later gets each of them by a share and opens it,
    // whatever header layout the sealing library chose.
    app.attach(&case, "tm-roma", "ministry-labour")
        .await
        .unwrap();
    let court_key = app.private_key("tm-roma", KeyUse::Encrypt);
    let author_public = dir.path().join("author.jwk");
    std::fs::write(
        &author_public,
        app.private_key("iom-tirana", KeyUse::Sign)
            .public()
            .to_json(),
    )
    .unwrap();
    for (doc, library, seal) in documents {
        let held = app
            .client("iom-tirana")
            .envelope(&doc, "best_interest_assessment")
            .await
            .unwrap();
        let entry = party::share_entry(
            &held.envelope,
            &[app.private_key("iom-tirana", KeyUse::Encrypt)],
            &court_key.public(),
        )
        .unwrap();
        app.client("iom-tirana")
            .share(&doc, "tm-roma", "judicial_decision", &entry)
            .await
            .unwrap();
        let opened = app
            .open("tm-roma", &doc, "judicial_decision")
            .await
            .unwrap();
        assert_eq!(opened.plaintext, ASSESSMENT, "{library:?} {seal}");
        if !library.has_curve(&court_key.crv) {
            continue;
        }
        let shared = app
            .client("tm-roma")
            .envelope(&doc, "judicial_decision")
            .await
            .unwrap();
        let envelope = dir.path().join("shared.json");
        std::fs::write(&envelope, &shared.envelope).unwrap();
        let opened: Value = serde_json::from_str(&library.run(&[
            std::ffi::OsStr::new("open"),
            envelope.as_os_str(),
            app.data_dir().join("parties/tm-roma/enc.jwk").as_os_str(),
            author_public.as_os_str(),
        ]))
        .unwrap();
        assert_eq!(
            opened["document_hex"].as_str(),
            Some(ponte::pki::hex(ASSESSMENT).as_str()),
            "{library:?} {seal}: the court opens the shared envelope with the library"
        );
    }
}

/// The profile's other curve end to end: a mission that signs with ES256
/// (P-256) and a ministry that decrypts with a P-256 key, beside parties on
/// Ed25519 and X25519, through plan, submission, receipt and retrieval.
async fn parties_whose_keys_are_on_p256_sign_seal_and_open_like_the_others(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission().await;
    let at = rfc3339(time::OffsetDateTime::now_utc());
    for (party, keys) in [
        (
            "iom-tirana",
            [
                ponte::jose::Jwk::generate_p256(KeyUse::Sign).unwrap(),
                ponte::jose::Jwk::generate_p256(KeyUse::Encrypt).unwrap(),
            ],
        ),
        (
            "ministry-labour",
            [
                ponte::jose::Jwk::generate_ed25519().unwrap(),
                ponte::jose::Jwk::generate_p256(KeyUse::Encrypt).unwrap(),
            ],
        ),
    ] {
        rotate_held_keys(&app, party, &keys, &at).await;
    }
    let plan = app
        .client("iom-tirana")
        .plan(
            &case,
            "family_assessment",
            "best_interest_assessment",
            &["subj-child-1"],
        )
        .await
        .unwrap();
    let curves: Vec<&str> = plan
        .recipients
        .iter()
        .flat_map(|p| p.keys.iter())
        .filter_map(|k| k["crv"].as_str())
        .collect();
    assert!(
        curves.contains(&"P-256") && curves.contains(&"X25519"),
        "{curves:?}"
    );
    let prepared = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            ASSESSMENT,
        )
        .await;
    let header: Value = serde_json::from_slice(
        &ponte::jose::b64_decode(prepared.manifest_token.split('.').next().unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "ES256");
    let (status, answer) = app.submit("iom-tirana", &case, &prepared).await.unwrap();
    assert_eq!(status, 201);
    let doc = answer.document.id.to_string();
    for reader in ["ministry-labour", "iom-tirana", "iom-rome", "comune-torino"] {
        let opened = app
            .open(reader, &doc, "best_interest_assessment")
            .await
            .unwrap();
        assert_eq!(opened.plaintext, ASSESSMENT, "{reader}");
    }
}

async fn the_broker_stores_only_ciphertext_under_its_own_seal(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, _) = assessed_case(&app).await;
    let objects = app.envelope_objects().await;
    assert_eq!(objects.len(), 1, "{objects:?}");
    let raw = std::fs::read(&objects[0]).unwrap();
    assert_eq!(&raw[..5], b"PNTE\x01", "the broker's versioned seal");
    let text = String::from_utf8_lossy(&raw);
    assert!(
        !text.contains("Elbasan") && !text.contains("protected") && !text.contains("recipients")
    );
}

async fn retrying_a_submission_returns_the_original_receipt_and_stores_nothing_twice(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
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
    let (first_status, first) = app.submit("iom-tirana", &case, &prepared).await.unwrap();
    let (again_status, again) = app.submit("iom-tirana", &case, &prepared).await.unwrap();
    assert_eq!((first_status, again_status), (201, 200));
    assert_eq!(first.receipt, again.receipt);
    assert!(!again.stored_now);
    assert_eq!(app.envelope_objects().await.len(), 1);

    // Same id, other bytes: refused.
    let mut other = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            b"other",
        )
        .await;
    let mut manifest = other.manifest.clone();
    manifest.document_id = prepared.manifest.document_id.clone();
    other.manifest_token = manifest
        .sign(&app.private_key("iom-tirana", KeyUse::Sign))
        .unwrap();
    let err = app.submit("iom-tirana", &case, &other).await.unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(409), Some("document_id_conflict"))
    );
    assert_eq!(app.envelope_objects().await.len(), 1);
    assert_eq!(app.pending_uploads().await, 0, "no upload is left pending");
}

/// A mission on a bad link may send the same submission again before the
/// first is answered: whichever commits first stores it, every other
/// answer carries the same receipt, and nothing is kept twice (no object,
/// no pending upload, no second acceptance on record).
async fn retries_sent_at_once_store_the_document_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
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
    let answers =
        futures::future::join_all((0..4).map(|_| app.submit("iom-tirana", &case, &prepared))).await;
    let answers: Vec<_> = answers.into_iter().map(Result::unwrap).collect();
    let stored: Vec<_> = answers.iter().filter(|(_, a)| a.stored_now).collect();
    assert_eq!(stored.len(), 1, "stored by exactly one of them");
    assert_eq!(stored[0].0, 201);
    for (status, answer) in &answers {
        assert!(answer.stored_now || *status == 200);
        assert_eq!(answer.receipt, stored[0].1.receipt, "the one receipt");
    }
    assert_eq!(app.envelope_objects().await.len(), 1);
    assert_eq!(app.pending_uploads().await, 0, "no upload is left pending");
    let acceptances = app.acceptances(&prepared.manifest.document_id).await;
    assert_eq!(acceptances, 1);
}

async fn bad_submissions_are_refused_and_nothing_is_stored(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission().await;
    let good = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            ASSESSMENT,
        )
        .await;
    let signing = app.private_key("iom-tirana", KeyUse::Sign);
    let resign = |manifest: &ponte::documents::Manifest| manifest.sign(&signing).unwrap();

    // One flipped byte in the envelope.
    let mut flipped = good.clone();
    let at = flipped.envelope.len() / 2;
    flipped.envelope[at] = if flipped.envelope[at] == b'A' {
        b'B'
    } else {
        b'A'
    };
    // The manifest signed with another party's key.
    let mut foreign = good.clone();
    foreign.manifest_token = good
        .manifest
        .sign(&app.private_key("tm-roma", KeyUse::Sign))
        .unwrap();
    // A recipient outside the plan.
    let dakar = app.private_key("iom-dakar", KeyUse::Encrypt).public();
    let mut keys: Vec<ponte::jose::Jwk> = Vec::new();
    for p in app
        .client("iom-tirana")
        .plan(
            &case,
            "family_assessment",
            "best_interest_assessment",
            &["subj-child-1"],
        )
        .await
        .unwrap()
        .recipients
    {
        keys.extend(
            p.keys
                .iter()
                .map(|k| serde_json::from_value(k.clone()).unwrap()),
        );
    }
    keys.push(dakar.clone());
    let draft = party::Draft {
        document_id: ponte::documents::DocumentId::generate(),
        case: ponte::cases::CaseId::parse(&case).unwrap(),
        document_type: "family_assessment".parse().unwrap(),
        purpose: "best_interest_assessment".parse().unwrap(),
        subjects: vec![ponte::documents::SubjectId::parse("subj-child-1").unwrap()],
        supersedes: None,
        media_type: "text/plain".into(),
    };
    let outside = party::prepare(ASSESSMENT, &draft, &signing, &keys).unwrap();
    // Malformed JSON and bad base64, with manifests that match their bytes.
    let garbage = |bytes: &[u8]| {
        let mut p = good.clone();
        p.envelope = bytes.to_vec();
        let mut m = good.manifest.clone();
        m.envelope_sha256 = ponte::documents::sha256_hex(bytes);
        p.manifest_token = resign(&m);
        p
    };
    let not_json = garbage(b"{\"protected\": ");
    let mut jwe: Value = serde_json::from_slice(&good.envelope).unwrap();
    jwe["ciphertext"] = Value::String("not*base64".into());
    let bad_base64 = garbage(jwe.to_string().as_bytes());
    let mut jwe = Jwe::parse(&good.envelope).unwrap();
    jwe.recipients[0]
        .header
        .as_mut()
        .unwrap()
        .insert("alg".into(), "RSA1_5".into());
    let rsa = garbage(jwe.to_json().as_bytes());
    // A header parameter twice: a library that took the first would read
    // another key id than the broker checked.
    let twice = Jwe::parse(&good.envelope).unwrap().to_json().replacen(
        "\"header\":{",
        "\"header\":{\"kid\":\"someone-else\",",
        1,
    );
    let twice = garbage(twice.as_bytes());

    let cases: Vec<(&str, &party::Prepared, &str, u16, &str)> = vec![
        (
            "flipped byte",
            &flipped,
            case.as_str(),
            422,
            "envelope_hash_mismatch",
        ),
        (
            "foreign signature",
            &foreign,
            case.as_str(),
            422,
            "manifest_key_not_registered",
        ),
        (
            "recipient outside the plan",
            &outside,
            case.as_str(),
            422,
            "recipient_not_in_plan",
        ),
        (
            "malformed JSON",
            &not_json,
            case.as_str(),
            400,
            "malformed_envelope",
        ),
        (
            "bad base64",
            &bad_base64,
            case.as_str(),
            400,
            "malformed_envelope",
        ),
        (
            "unsupported algorithm",
            &rsa,
            case.as_str(),
            422,
            "unsupported_algorithm",
        ),
        (
            "a header parameter twice",
            &twice,
            case.as_str(),
            400,
            "malformed_envelope",
        ),
    ];
    for (what, prepared, case, status, code) in cases {
        let err = app.submit("iom-tirana", case, prepared).await.unwrap_err();
        assert_eq!(
            (err.status(), err.code()),
            (Some(status), Some(code)),
            "{what}: {err}"
        );
        if what == "a header parameter twice" {
            assert!(
                err.to_string().contains("\"kid\" appears twice"),
                "the error names the parameter: {err}"
            );
        }
        if what == "recipient outside the plan" {
            assert!(
                err.to_string().contains(&dakar.kid),
                "the error names the key: {err}"
            );
        }
    }
    let unknown_case = "case-aaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut elsewhere = good.clone();
    let mut m = good.manifest.clone();
    m.case = ponte::cases::CaseId::parse(unknown_case).unwrap();
    elsewhere.manifest_token = resign(&m);
    let err = app
        .submit("iom-tirana", unknown_case, &elsewhere)
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(404), Some("case_not_found"))
    );
    let response = app
        .client("iom-tirana")
        .http()
        .post(
            app.client("iom-tirana")
                .url(&format!("/v1/cases/{case}/documents")),
        )
        .body(good.envelope.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400, "no manifest header");

    let listed: Vec<Value> = app
        .client("ministry-labour")
        .get(&format!("/v1/cases/{case}/documents"))
        .await
        .unwrap();
    assert!(
        listed.iter().all(|d| d["document_type"] == "consent_form"),
        "nothing partial is stored"
    );
    assert!(app.envelope_objects().await.is_empty());
    assert_eq!(app.pending_uploads().await, 0);
    // Every refusal is on record with its code, whether it came before the
    // policy decided (no manifest, a foreign signature, an unknown case) or
    // after; and every submission the policy allowed is on record too,
    // though six of them stopped before or during their upload.
    let events = audit::recent(&app.db, 200).await.unwrap();
    let count = |action: &str, outcome: Outcome| {
        events
            .iter()
            .filter(|(_, e)| e.action == action && e.outcome == outcome)
            .count()
    };
    let mut codes: Vec<&str> = events
        .iter()
        .filter(|(_, e)| e.action == "DocumentRejected")
        .map(|(_, e)| e.detail["code"].as_str().unwrap())
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [
            "case_not_found",
            "envelope_hash_mismatch",
            "malformed_envelope",
            "malformed_envelope",
            "malformed_envelope",
            "manifest_key_not_registered",
            "manifest_missing",
            "recipient_not_in_plan",
            "unsupported_algorithm",
        ]
    );
    assert_eq!(
        count("SubmitDocument", Outcome::Allow),
        count("DocumentAccepted", Outcome::Done) + 6
    );
}

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

async fn a_correction_supersedes_and_both_versions_are_kept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (case, doc) = assessed_case(&app).await;
    let correction = app
        .prepare_correction("iom-tirana", &case, &doc, b"The mother lives in Durres.")
        .await;
    let agreed = Some("through=mission; subject=subj-child-1");
    let (status, answer) = app
        .client("iom-tirana")
        .submit_with_agreement(
            &case,
            &correction.manifest_token,
            correction.envelope.clone(),
            agreed,
        )
        .await
        .unwrap();
    assert_eq!(status, 201);
    assert_eq!(
        answer.document.supersedes.as_ref().map(|d| d.as_str()),
        Some(doc.as_str())
    );
    let listed: Vec<Value> = app
        .client("ministry-labour")
        .get(&format!("/v1/cases/{case}/documents"))
        .await
        .unwrap();
    assert_eq!(
        listed.len(),
        3,
        "the consent form, the assessment and its correction"
    );
    let old = listed.iter().find(|d| d["id"] == doc.as_str()).unwrap();
    assert_eq!(old["current"], false);
    assert!(
        app.open("ministry-labour", &doc, "case_oversight")
            .await
            .is_ok(),
        "the superseded version is kept"
    );

    let twice = app
        .prepare_correction("iom-tirana", &case, &doc, b"again")
        .await;
    let err = app
        .client("iom-tirana")
        .submit_with_agreement(&case, &twice.manifest_token, twice.envelope.clone(), agreed)
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(409), Some("cannot_supersede"))
    );
}

async fn destroying_the_case_key_makes_the_case_unreadable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (case, doc) = assessed_case(&app).await;
    app.open("ministry-labour", &doc, "case_oversight")
        .await
        .unwrap();
    let sealed_bytes = std::fs::read(&app.envelope_objects().await[0]).unwrap();
    ponte::storage::sealed::unchecked_destroy_case_key(
        &app.db,
        &case,
        &rfc3339(time::OffsetDateTime::now_utc()),
    )
    .await
    .unwrap();
    let err = app
        .client("ministry-labour")
        .envelope(&doc, "case_oversight")
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(410), Some("content_erased"))
    );
    // A party that may not read it learns nothing of that: the refusal
    // answers first, though the object was being opened meanwhile.
    let err = app
        .client("iom-dakar")
        .envelope(&doc, "best_interest_assessment")
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(403), Some("forbidden")));
    // The object is still there, but no key in the broker opens it any more.
    let kek = ponte::storage::sealed::Kek::load(&app.data_dir().join("broker/kek.key")).unwrap();
    assert!(
        ponte::storage::sealed::existing_case_key(&app.db, &kek, &case)
            .await
            .is_err()
    );
    let wrapped: String = sqlx::query_scalar("select wrapped from case_key where case_id = $1")
        .bind(&case)
        .fetch_one(app.db.pool())
        .await
        .unwrap();
    assert_eq!(wrapped, "", "the wrapped key itself is gone");
    assert_eq!(&sealed_bytes[..4], b"PNTE");
    // A new submission on an erased case is refused too.
    let prepared = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            b"x",
        )
        .await;
    let err = app
        .submit("iom-tirana", &case, &prepared)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(410));
}

async fn an_oversize_envelope_is_refused_before_its_body_is_read(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = common::settings(dir.path(), backend).await;
    settings.documents.max_envelope_bytes = 2_000;
    let app = TestApp::spawn_with(dir, settings).await;
    let case = app.case_with_mission().await;
    let prepared = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            &[b'x'; 5_000],
        )
        .await;
    let err = app
        .submit("iom-tirana", &case, &prepared)
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(413), Some("payload_too_large"))
    );
    assert!(app.envelope_objects().await.is_empty());
    assert_eq!(
        app.pending_uploads().await,
        0,
        "refused before any upload began"
    );
}

async fn an_upload_that_never_completes_is_invisible_and_swept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission().await;
    let prepared = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            &vec![b'z'; 3_000_000],
        )
        .await;
    let (in_flight, tx) = streamed_submission(&app, &case, &prepared);
    tx.send(Ok(bytes::Bytes::copy_from_slice(
        &prepared.envelope[..1_500_000],
    )))
    .await
    .unwrap();
    common::eventually("the upload has begun", || async {
        app.pending_uploads().await == 1
    })
    .await;
    // The client goes away mid-upload.
    in_flight.abort();
    drop(tx);
    let doc = prepared.manifest.document_id.to_string();
    let err = app
        .client("ministry-labour")
        .envelope(&doc, "case_oversight")
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.code()),
        (Some(404), Some("document_not_found"))
    );

    // Whatever the broker could not clean up at once, the sweep removes after the grace period.
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
    exchange::sweep(&app.db, &app.state_objects(), later)
        .await
        .unwrap();
    assert_eq!(app.pending_uploads().await, 0);
    assert!(
        app.local_objects()
            .iter()
            .all(|p| !p.to_string_lossy().contains(&doc)),
        "{:?}",
        app.local_objects()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_round_trips_through_s3() {
    let app = TestApp::spawn_on_s3(|_| {}).await;
    let case = app.case_with_mission().await;
    let big: Vec<u8> = (0..20_000_000u32).map(|i| (i % 253) as u8).collect();
    let prepared = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            &big,
        )
        .await;
    let (status, answer) = app.submit("iom-tirana", &case, &prepared).await.unwrap();
    assert_eq!(
        status,
        201,
        "a multipart upload of {} bytes",
        prepared.envelope.len()
    );
    let opened = app
        .open(
            "ministry-labour",
            &answer.document.id.to_string(),
            "case_oversight",
        )
        .await
        .unwrap();
    assert!(opened.plaintext == big);
    assert!(
        app.local_objects().is_empty(),
        "nothing went to the local directory"
    );
}

/// On S3, an envelope of 1 MiB up to one part goes into the bucket in one PUT
/// while it still arrives. A mission whose link pauses longer than the
/// stall limit gets its document stored all the same (the broker gives the
/// PUT up and writes the object in one piece once it has all of it); one
/// that stops, or sends bytes that do not match its manifest, leaves
/// nothing in the bucket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_an_envelope_streams_in_as_it_arrives_and_a_paused_sender_still_gets_it_stored() {
    let app = TestApp::spawn_on_s3(|settings| settings.objects.s3.stream_stall_secs = 1).await;
    let case = app.case_with_mission().await;
    let streaming_puts = || async {
        let text = app.metrics().await;
        let count = |outcome: &str| -> u64 {
            let prefix = format!("ponte_s3_streaming_puts_total{{outcome=\"{outcome}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .unwrap_or_else(|| panic!("no {prefix} in {text}"))
                .parse()
                .unwrap()
        };
        (count("stored"), count("given_way"))
    };
    // An envelope of about 2 MB: over the size that streams.
    let document: Vec<u8> = (0..1_100_000u32).map(|i| (i % 251) as u8).collect();
    let prepare = || {
        app.prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            &document,
        )
    };
    let objects_of = |prepared: &party::Prepared| {
        let prefix = format!("envelopes/{case}/{}", prepared.manifest.document_id);
        async move { common::s3_keys(&prefix).await }
    };

    // Sent whole: it streams in.
    let (stored_before, given_way_before) = streaming_puts().await;
    let sent = prepare().await;
    let (status, _) = app.submit("iom-tirana", &case, &sent).await.unwrap();
    assert_eq!(status, 201);
    assert_eq!(
        streaming_puts().await,
        (stored_before + 1, given_way_before),
        "the envelope streamed into the bucket"
    );

    // A pause twice the stall limit in the middle of the body.
    let paused = prepare().await;
    let (in_flight, tx) =
        submission_sent_in_pieces(&app, &case, &paused, Some(paused.envelope.len()));
    let (head, tail) = paused.envelope.split_at(paused.envelope.len() / 2);
    tx.send(Ok(bytes::Bytes::copy_from_slice(head)))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    tx.send(Ok(bytes::Bytes::copy_from_slice(tail)))
        .await
        .unwrap();
    drop(tx);
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        streaming_puts().await,
        (stored_before + 1, given_way_before + 1),
        "the PUT gave way to one written at the end"
    );
    let opened = app
        .open(
            "ministry-labour",
            &paused.manifest.document_id.to_string(),
            "case_oversight",
        )
        .await
        .unwrap();
    assert!(
        opened.plaintext == document,
        "the paused document reads back whole"
    );
    assert_eq!(objects_of(&paused).await.len(), 1);

    // A sender that stops half-way.
    let stopped = prepare().await;
    let (in_flight, tx) =
        submission_sent_in_pieces(&app, &case, &stopped, Some(stopped.envelope.len()));
    tx.send(Ok(bytes::Bytes::copy_from_slice(
        &stopped.envelope[..stopped.envelope.len() / 2],
    )))
    .await
    .unwrap();
    common::eventually("the upload has begun", || async {
        app.pending_uploads().await == 1
    })
    .await;
    drop(tx);
    assert!(
        in_flight.await.unwrap().is_err(),
        "the request was cut short"
    );

    // One flipped byte: refused, and its object never came to exist.
    let mut flipped = prepare().await;
    let at = flipped.envelope.len() / 2;
    flipped.envelope[at] = if flipped.envelope[at] == b'A' {
        b'B'
    } else {
        b'A'
    };
    let err = app.submit("iom-tirana", &case, &flipped).await.unwrap_err();
    assert_eq!(err.code(), Some("envelope_hash_mismatch"));

    for (what, prepared) in [("stopped", &stopped), ("flipped", &flipped)] {
        let doc = prepared.manifest.document_id.to_string();
        let err = app
            .client("ministry-labour")
            .envelope(&doc, "case_oversight")
            .await
            .unwrap_err();
        assert_eq!(err.status(), Some(404), "{what}");
    }
    // What a broker cut off with its client leaves, the sweep removes.
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
    exchange::sweep(&app.db, &app.state_objects(), later)
        .await
        .unwrap();
    assert_eq!(app.pending_uploads().await, 0);
    for (what, prepared) in [("stopped", &stopped), ("flipped", &flipped)] {
        assert_eq!(objects_of(prepared).await, Vec::<String>::new(), "{what}");
    }
    assert_eq!(
        streaming_puts().await,
        (stored_before + 1, given_way_before + 1),
        "neither the stopped nor the refused upload was completed"
    );
}

async fn an_upload_swept_while_in_flight_never_becomes_a_document(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let case = app.case_with_mission().await;
    let prepared = app
        .prepare(
            "iom-tirana",
            &case,
            "family_assessment",
            "best_interest_assessment",
            &vec![b'q'; 2_000_000],
        )
        .await;
    let (in_flight, tx) = streamed_submission(&app, &case, &prepared);
    let (head, tail) = prepared.envelope.split_at(1_000_000);
    tx.send(Ok(bytes::Bytes::copy_from_slice(head)))
        .await
        .unwrap();
    common::eventually("the upload has begun", || async {
        app.pending_uploads().await == 1
    })
    .await;
    // A sweep that takes the slow upload for abandoned…
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(2);
    assert_eq!(
        exchange::sweep(&app.db, &app.state_objects(), later)
            .await
            .unwrap(),
        1
    );
    // …then the rest arrives: the broker must not commit a document without its object.
    tx.send(Ok(bytes::Bytes::copy_from_slice(tail)))
        .await
        .unwrap();
    drop(tx);
    let response = in_flight.await.unwrap().unwrap();
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "upload_incomplete");
    let doc = prepared.manifest.document_id.to_string();
    let err = app
        .client("ministry-labour")
        .envelope(&doc, "case_oversight")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(404));
}

/// An object store that fails just as a submission's object is written
/// (the database meanwhile writing its metadata, on PostgreSQL) leaves no
/// document: the mission is told the store is unavailable, nothing is
/// listed or on record as accepted, and once the store is back the same
/// submission is stored as new.
async fn a_submission_whose_object_cannot_be_written_leaves_no_document(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = common::settings(dir.path(), backend).await;
    let endpoint = common::required_env("PONTE_TEST_S3_ENDPOINT");
    let proxy = common::Proxy::start(common::host_port(&endpoint)).await;
    let dir_path = dir.path().to_owned();
    common::use_s3(&mut settings, &dir_path, &format!("http://{}", proxy.addr));
    let app = TestApp::spawn_with(dir, settings).await;
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

    proxy.cut();
    let err = app
        .submit("iom-tirana", &case, &prepared)
        .await
        .unwrap_err();
    assert_eq!((err.status(), err.code()), (Some(503), Some("unavailable")));
    let listed: Vec<Value> = app
        .client("iom-tirana")
        .get(&format!("/v1/cases/{case}/documents"))
        .await
        .unwrap();
    let doc = prepared.manifest.document_id.to_string();
    assert!(listed.iter().all(|d| d["id"] != doc.as_str()), "{listed:?}");
    let acceptances = app.acceptances(&prepared.manifest.document_id).await;
    assert_eq!(acceptances, 0);

    proxy.restore();
    let (status, answer) = app.submit("iom-tirana", &case, &prepared).await.unwrap();
    assert_eq!(status, 201);
    assert!(answer.stored_now);
    let opened = app
        .open("comune-torino", &doc, "best_interest_assessment")
        .await
        .unwrap();
    assert_eq!(opened.plaintext, ASSESSMENT);
}

/// A broker stopped in the middle of a multipart upload to its local
/// directory leaves the upload's pending record and the staging files of
/// the parts written so far; the sweep removes them all, and nothing else.
async fn an_upload_cut_off_by_a_stop_of_the_broker_leaves_nothing_after_the_sweep(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    let key = format!(
        "envelopes/case-{}/doc-{}/{}",
        common::random_hex(4),
        common::random_hex(4),
        common::random_hex(12)
    );
    sqlx::query("insert into pending_upload (object_key, started_epoch) values ($1, $2)")
        .bind(&key)
        .bind(0i64)
        .execute(app.db.pool())
        .await
        .unwrap();
    let file = app.data_dir().join("objects").join(&key);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let staged: Vec<std::path::PathBuf> = (1..=2)
        .map(|n| std::path::PathBuf::from(format!("{}#{n}", file.display())))
        .collect();
    for path in &staged {
        std::fs::write(path, b"sealed part").unwrap();
    }
    let neighbour = std::path::PathBuf::from(format!("{}7#1", file.display()));
    std::fs::write(&neighbour, b"another upload's part").unwrap();

    let swept = exchange::sweep(
        &app.db,
        &app.state_objects(),
        time::OffsetDateTime::now_utc(),
    )
    .await
    .unwrap();
    assert_eq!(swept, 1);
    assert_eq!(app.pending_uploads().await, 0);
    assert!(staged.iter().all(|p| !p.exists()), "{staged:?}");
    assert!(neighbour.exists(), "only this upload's staging files go");
}
