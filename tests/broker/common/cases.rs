//! What the tests do as the parties: open cases, attach parties, record
//! consents, prepare, submit and open documents; and what they look at
//! in the stores.

use std::path::{Path, PathBuf};

use ponte::client::ClientError;

use super::{TestApp, ALL_CONSENT_PURPOSES, ALL_ROLES};

impl TestApp {
    /// Opens a case as comune-torino and returns its id.
    pub async fn open_case(&self, country: &str) -> String {
        let case: serde_json::Value = self
            .client("comune-torino")
            .post("/v1/cases", &serde_json::json!({ "country": country }))
            .await
            .unwrap();
        case["id"].as_str().unwrap().to_owned()
    }

    /// Attaches `party` to `case`, acting as `by`.
    pub async fn attach(
        &self,
        case: &str,
        party: &str,
        by: &str,
    ) -> Result<serde_json::Value, ClientError> {
        self.client(by)
            .post(
                &format!("/v1/cases/{case}/members"),
                &serde_json::json!({ "party": party }),
            )
            .await
    }

    /// A case with the ministry, IOM Rome and IOM Tirana on it, and the
    /// child `subj-child-1` consenting (through the guardian) to every
    /// consent-based purpose, recipient role and document type for a year.
    pub async fn case_with_mission(&self) -> String {
        let case = self.case_with_mission_without_consent().await;
        self.add_subject(&case, "subj-child-1", "child").await;
        self.record_consent(&case, "subj-child-1", &ALL_CONSENT_PURPOSES, &ALL_ROLES)
            .await;
        case
    }

    /// A case with the ministry, IOM Rome and IOM Tirana on it, and no data subject yet.
    pub async fn case_with_mission_without_consent(&self) -> String {
        let case = self.open_case("AL").await;
        self.attach(&case, "iom-rome", "ministry-labour")
            .await
            .unwrap();
        self.attach(&case, "iom-tirana", "iom-rome").await.unwrap();
        case
    }

    /// IOM Tirana adds a data subject to the case.
    pub async fn add_subject(&self, case: &str, subject: &str, relation: &str) {
        let _: serde_json::Value = self
            .client("iom-tirana")
            .post(
                &format!("/v1/cases/{case}/subjects"),
                &serde_json::json!({ "id": subject, "relation": relation }),
            )
            .await
            .unwrap();
    }

    /// IOM Tirana submits the signed consent form of `subject` and records
    /// the consent it gives (every document type, valid for a year).
    /// Returns the recorded consent with its receipt and one-time code.
    pub async fn record_consent(
        &self,
        case: &str,
        subject: &str,
        purposes: &[&str],
        recipients: &[&str],
    ) -> ponte::http::consent::RecordedConsent {
        let form = self
            .prepare_about(
                "iom-tirana",
                case,
                "consent_form",
                "family_tracing",
                subject,
                b"consent form, signed",
            )
            .await;
        let (_, answer) = self.submit("iom-tirana", case, &form).await.unwrap();
        let until =
            ponte::clock::rfc3339(time::OffsetDateTime::now_utc() + time::Duration::days(365));
        self.client("iom-tirana")
            .post(
                &format!("/v1/cases/{case}/consents"),
                &serde_json::json!({
                    "subject": subject,
                    "state": "given",
                    "given_by": "representative",
                    "purposes": purposes,
                    "recipients": recipients,
                    "document_types": ponte::documents::DocumentType::ALL.map(|t| t.as_str()),
                    "valid_until": until,
                    "notice_version": "2026-1",
                    "notice_language": "sq",
                    "evidence": answer.document.id,
                }),
            )
            .await
            .unwrap()
    }

    /// A demo party's private key of one use, from its credential folder.
    pub fn private_key(&self, party: &str, key_use: ponte::jose::KeyUse) -> ponte::jose::Jwk {
        let file = match key_use {
            ponte::jose::KeyUse::Sign => "sign.jwk",
            ponte::jose::KeyUse::Encrypt => "enc.jwk",
        };
        let text = std::fs::read_to_string(self.data_dir().join("parties").join(party).join(file))
            .unwrap();
        ponte::jose::Jwk::parse(&text).unwrap()
    }

    /// Prepares a document about `subj-child-1` as `author` for the current plan.
    pub async fn prepare(
        &self,
        author: &str,
        case: &str,
        document_type: &str,
        purpose: &str,
        document: &[u8],
    ) -> ponte::documents::party::Prepared {
        self.prepare_about(
            author,
            case,
            document_type,
            purpose,
            "subj-child-1",
            document,
        )
        .await
    }

    /// Prepares a document about `subject` as `author` for the current plan.
    pub async fn prepare_about(
        &self,
        author: &str,
        case: &str,
        document_type: &str,
        purpose: &str,
        subject: &str,
        document: &[u8],
    ) -> ponte::documents::party::Prepared {
        let plan = self
            .client(author)
            .plan(case, document_type, purpose, &[subject])
            .await
            .unwrap();
        let keys: Vec<ponte::jose::Jwk> = plan
            .recipients
            .iter()
            .flat_map(|p| p.keys.iter())
            .map(|k| serde_json::from_value(k.clone()).unwrap())
            .collect();
        let draft = ponte::documents::party::Draft {
            document_id: ponte::documents::DocumentId::generate(),
            case: ponte::cases::CaseId::parse(case).unwrap(),
            document_type: document_type.parse().unwrap(),
            purpose: purpose.parse().unwrap(),
            subjects: vec![ponte::documents::SubjectId::parse(subject).unwrap()],
            supersedes: None,
            media_type: "text/plain".into(),
        };
        let signing = self.private_key(author, ponte::jose::KeyUse::Sign);
        ponte::documents::party::prepare(document, &draft, &signing, &keys).unwrap()
    }

    /// Prepares a correction about `subj-child-1` as `author` for the
    /// current plan, its manifest naming the document it supersedes.
    pub async fn prepare_correction(
        &self,
        author: &str,
        case: &str,
        supersedes: &str,
        document: &[u8],
    ) -> ponte::documents::party::Prepared {
        let mut prepared = self
            .prepare(
                author,
                case,
                "correction",
                "best_interest_assessment",
                document,
            )
            .await;
        prepared.manifest.supersedes =
            Some(ponte::documents::DocumentId::parse(supersedes).unwrap());
        prepared.manifest_token = prepared
            .manifest
            .sign(&self.private_key(author, ponte::jose::KeyUse::Sign))
            .unwrap();
        prepared
    }

    /// Submits a prepared document as `author`.
    pub async fn submit(
        &self,
        author: &str,
        case: &str,
        prepared: &ponte::documents::party::Prepared,
    ) -> Result<(u16, ponte::http::documents::SubmitAnswer), ClientError> {
        self.client(author)
            .submit(case, &prepared.manifest_token, prepared.envelope.clone())
            .await
    }

    /// Fetches and opens a document as `reader`.
    pub async fn open(
        &self,
        reader: &str,
        document: &str,
        purpose: &str,
    ) -> Result<ponte::documents::party::Opened, ClientError> {
        let fetched = self.client(reader).envelope(document, purpose).await?;
        let jwks: serde_json::Value = self.client(reader).get("/.well-known/jwks.json").await?;
        let receipt = ponte::documents::receipt::Receipt::verify(
            &fetched.receipt,
            &ponte::documents::receipt::jwks_keys(&jwks),
        )
        .unwrap();
        let author_jwks: serde_json::Value = self
            .client(reader)
            .get(&format!("/v1/parties/{}/jwks.json", receipt.submitter))
            .await?;
        let author_keys = ponte::documents::receipt::jwks_keys(&author_jwks);
        let mine = vec![self.private_key(reader, ponte::jose::KeyUse::Encrypt)];
        Ok(ponte::documents::party::open(
            &fetched.envelope,
            &fetched.manifest,
            &receipt.submitter,
            &author_keys,
            &mine,
        )
        .unwrap())
    }

    /// Every object key in the local object directory.
    pub fn local_objects(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.data_dir().join("objects"), &mut out);
        out
    }

    /// The local objects of documents other than consent forms (the
    /// consent every case of [`TestApp::case_with_mission`] starts with).
    pub async fn envelope_objects(&self) -> Vec<PathBuf> {
        let forms: Vec<String> =
            sqlx::query_scalar("select id from document where document_type = 'consent_form'")
                .fetch_all(self.db.pool())
                .await
                .unwrap();
        self.local_objects()
            .into_iter()
            .filter(|p| {
                !forms
                    .iter()
                    .any(|f| p.to_string_lossy().contains(f.as_str()))
            })
            .collect()
    }

    /// The broker's object store.
    pub fn state_objects(&self) -> ponte::storage::Objects {
        self.objects.clone()
    }

    /// Uploads not yet committed.
    pub async fn pending_uploads(&self) -> i64 {
        sqlx::query_scalar("select count(*) from pending_upload")
            .fetch_one(self.db.pool())
            .await
            .unwrap()
    }

    /// How many acceptances of `doc` are on record.
    pub async fn acceptances(&self, doc: &ponte::documents::DocumentId) -> i64 {
        sqlx::query_scalar(
            "select count(*) from audit_event where action = 'DocumentAccepted' and resource = $1",
        )
        .bind(format!("document:{doc}"))
        .fetch_one(self.db.pool())
        .await
        .unwrap()
    }

    /// Prepares and submits a document about `subj-child-1` as `author`.
    pub async fn submit_new(
        &self,
        author: &str,
        case: &str,
        document_type: &str,
        purpose: &str,
        document: &[u8],
    ) -> ponte::http::documents::SubmitAnswer {
        let prepared = self
            .prepare(author, case, document_type, purpose, document)
            .await;
        self.submit(author, case, &prepared).await.unwrap().1
    }

    /// Moves `case` to `to`, acting as `by`.
    pub async fn transition(
        &self,
        by: &str,
        case: &str,
        to: &str,
    ) -> Result<ponte::cases::workflow::Transition, ClientError> {
        self.client(by).transition(case, to, None).await
    }
}
