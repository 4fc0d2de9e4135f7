//! Parties whose JOSE library is not ours: submissions sealed and signed
//! with another library pass the broker's checks and open for every
//! recipient, and entries Ponte adds in a share open for the library.

use ponte::clock::rfc3339;
use ponte::documents::party;
use ponte::jose::KeyUse;
use serde_json::Value;

use super::{rotate_held_keys, ASSESSMENT};
use crate::common::{self, Backend, TestApp};

crate::on_both_databases!(
    a_mission_sealing_with_another_jose_library_submits_and_every_recipient_opens_it,
    a_mission_on_a_p256_only_jose_library_submits_and_every_recipient_opens_it,
);

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
