//! `ponte demo`: one family-tracing case from request to reintegration,
//! run against a broker by the demo parties, printed as a timeline — who
//! did what, under which purpose and basis, with the evidence ids. Every
//! step checks that the broker behaved as described; the first that does
//! not stops the demo with an error (so CI runs it).

use std::sync::Arc;

use anyhow::{anyhow, bail, ensure, Context};

use crate::app::App;
use crate::audit::checkpoint::Checkpoint;
use crate::audit::merkle;
use crate::client::{Client, ClientError, DEFAULT_BROKER};
use crate::clock::{rfc3339, SystemClock};
use crate::config::Settings;
use crate::documents::party::{self, Draft};
use crate::documents::receipt::jwks_keys;
use crate::documents::{DocumentId, SubjectId};
use crate::dossiers::verify;
use crate::http::consent::{ChangedConsent, RecordedConsent};
use crate::http::documents::SubmitAnswer;
use crate::init::PartyFiles;
use crate::jose::Jwk;
use crate::notices::{InboxPage, Notice, NoticeKind};

/// Runs the demo against `broker`, or, when none is given and none answers
/// at the default address, against a broker it starts itself on the
/// configured data directory.
pub async fn run(settings: &Settings, broker: Option<&str>) -> anyhow::Result<()> {
    if let Some(url) = broker {
        return Demo::new(settings, url)?.play().await;
    }
    if answers(settings, DEFAULT_BROKER).await {
        println!("using the broker at {DEFAULT_BROKER}\n");
        return Demo::new(settings, DEFAULT_BROKER)?.play().await;
    }
    let mut own = settings.clone();
    own.server.listen = "127.0.0.1:0".parse().map_err(|e| anyhow!("{e}"))?;
    own.server.bootstrap_dev_pki = true;
    let app = App::build(&own, Arc::new(SystemClock)).await?;
    let url = format!("https://127.0.0.1:{}", app.local_addr()?.port());
    println!(
        "no broker at {DEFAULT_BROKER}; started one at {url} on {}\n",
        own.data_dir.display()
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run(async {
        let _ = stopped.await;
    }));
    let played = Demo::new(&own, &url)?.play().await;
    let _ = stop.send(());
    let _ = server.await;
    played
}

async fn answers(settings: &Settings, url: &str) -> bool {
    match Client::anonymous(&settings.data_dir, url) {
        Ok(client) => client.get::<serde_json::Value>("/healthz").await.is_ok(),
        Err(_) => false,
    }
}

/// A demo party: its mTLS client and its private keys.
struct Actor {
    id: &'static str,
    client: Client,
    sign: Jwk,
    enc: Jwk,
}

struct Demo {
    comune: Actor,
    ministry: Actor,
    rome: Actor,
    tirana: Actor,
    court: Actor,
    anonymous: Client,
    broker_keys: Vec<Jwk>,
    step: usize,
    dir: std::path::PathBuf,
    data_dir: std::path::PathBuf,
    url: String,
}

const CHILD: &str = "subj-demo-child";

impl Demo {
    fn new(settings: &Settings, url: &str) -> anyhow::Result<Demo> {
        let actor = |id: &'static str| -> anyhow::Result<Actor> {
            let files = PartyFiles::new(&settings.data_dir, id);
            let read = |path: std::path::PathBuf| -> anyhow::Result<Jwk> {
                let text = crate::secret::read_string(&path, "run `ponte init`")?;
                Jwk::parse(&text).with_context(|| path.display().to_string())
            };
            Ok(Actor {
                id,
                client: Client::for_party(&settings.data_dir, id, url)?,
                sign: read(files.sign_jwk())?,
                enc: read(files.enc_jwk())?,
            })
        };
        Ok(Demo {
            comune: actor("comune-torino")?,
            ministry: actor("ministry-labour")?,
            rome: actor("iom-rome")?,
            tirana: actor("iom-tirana")?,
            court: actor("tm-roma")?,
            anonymous: Client::anonymous(&settings.data_dir, url)?,
            broker_keys: Vec::new(),
            step: 0,
            dir: settings.data_dir.join("demo"),
            data_dir: settings.data_dir.clone(),
            url: url.to_owned(),
        })
    }

    /// One line of the timeline.
    fn say(&mut self, who: &str, what: &str, purpose: Option<&str>, evidence: &str) {
        self.step += 1;
        let now = rfc3339(time::OffsetDateTime::now_utc());
        let basis = purpose
            .and_then(|p| p.parse::<crate::consent::Purpose>().ok())
            .map(|p| format!("{p} ({})", p.basis().as_str()))
            .unwrap_or_else(|| "-".into());
        println!(
            "{:>2}  {}  {:<16} {what}\n      purpose: {basis}   evidence: {evidence}",
            self.step,
            &now[11..23],
            who
        );
    }

    async fn play(mut self) -> anyhow::Result<()> {
        let jwks: serde_json::Value = self.anonymous.get("/.well-known/jwks.json").await?;
        self.broker_keys = jwks_keys(&jwks);
        std::fs::create_dir_all(&self.dir)?;
        std::fs::write(
            self.dir.join("broker-jwks.json"),
            serde_json::to_vec_pretty(&jwks)?,
        )?;
        println!("Ponte demo: one family-tracing case, request to reintegration\n");

        // The municipality opens the case for a child in its care.
        let case: crate::cases::Case = self
            .comune
            .client
            .post("/v1/cases", &serde_json::json!({ "country": "AL" }))
            .await?;
        let case = case.id.to_string();
        self.say(
            self.comune.id,
            &format!("opened case {case} (country AL), addressed to the ministry"),
            None,
            &case,
        );
        let _: serde_json::Value = self
            .comune
            .client
            .post(
                &format!("/v1/cases/{case}/subjects"),
                &serde_json::json!({ "id": CHILD, "relation": "child" }),
            )
            .await?;
        let form = self
            .submit(
                Who::Comune,
                &case,
                "consent_form",
                "family_tracing",
                b"consent form signed by the guardian",
                None,
                None,
            )
            .await?;
        let until = rfc3339(time::OffsetDateTime::now_utc() + time::Duration::days(365));
        let consent: RecordedConsent = self
            .comune
            .client
            .post(
                &format!("/v1/cases/{case}/consents"),
                &serde_json::json!({
                    "subject": CHILD,
                    "state": "given",
                    "given_by": "representative",
                    "purposes": ["family_tracing", "best_interest_assessment", "return_and_reintegration"],
                    "recipients": ["role:municipality", "role:ministry", "role:iom_coordination", "role:iom_mission", "role:court", "role:guardian"],
                    "document_types": crate::documents::DocumentType::ALL.map(|t| t.as_str()),
                    "valid_until": until,
                    "notice_version": "2026-1",
                    "notice_language": "it",
                    "evidence": form.document.id,
                }),
            )
            .await?;
        let code = consent
            .code
            .clone()
            .ok_or_else(|| anyhow!("a new consent must come with its one-time code"))?;
        let consent_id = consent.consent.id.to_string();
        self.say(
            self.comune.id,
            &format!(
                "recorded the consent of {CHILD} (given by the guardian), form {}",
                form.document.id
            ),
            Some("family_tracing"),
            &consent_id,
        );

        // Request, entrustment, assignment.
        let request = self
            .submit(
                Who::Comune,
                &case,
                "tracing_request",
                "family_tracing",
                b"request for family tracing",
                None,
                None,
            )
            .await?;
        self.say(
            self.comune.id,
            &format!("submitted the tracing request {}", request.document.id),
            Some("family_tracing"),
            &receipt_id(&request),
        );
        for party in ["iom-rome", "guardian-torino-1"] {
            self.ministry
                .client
                .post::<_, serde_json::Value>(
                    &format!("/v1/cases/{case}/members"),
                    &serde_json::json!({ "party": party }),
                )
                .await?;
        }
        let step = self
            .ministry
            .client
            .transition(&case, "entrusted", None)
            .await?;
        self.say(
            self.ministry.id,
            "entrusted IOM coordination (iom-rome) and attached the guardian",
            None,
            &step.id,
        );
        self.rome
            .client
            .post::<_, serde_json::Value>(
                &format!("/v1/cases/{case}/members"),
                &serde_json::json!({ "party": "iom-tirana" }),
            )
            .await?;
        let assignment = self
            .submit(
                Who::Rome,
                &case,
                "assignment",
                "family_tracing",
                b"assignment to IOM Tirana",
                None,
                None,
            )
            .await?;
        let step = self.rome.client.transition(&case, "tracing", None).await?;
        self.say(
            self.rome.id,
            &format!(
                "assigned the mission iom-tirana ({}), tracing starts",
                assignment.document.id
            ),
            Some("family_tracing"),
            &step.id,
        );

        // Out of order is refused, naming the way on.
        match self
            .court
            .client
            .transition(&case, "decided_return", None)
            .await
        {
            Err(e) if e.status() == Some(403) => {}
            other => bail!("a court not on the case moved it: {other:?}"),
        }
        match self.ministry.client.transition(&case, "closed", None).await {
            Err(ClientError::Problem {
                status: 409,
                code,
                body,
                ..
            }) if code == "invalid_transition" => {
                ensure!(
                    body["allowed"] == serde_json::json!(["assessed"]),
                    "the refusal must name `assessed`: {body}"
                );
            }
            other => bail!("a step out of order was not refused with 409: {other:?}"),
        }
        self.say("(check)", "closing a case under tracing is refused: 409, allowed [assessed]; the court, not on the case, gets 403", None, "-");

        // Assessment and social report.
        let assessment_text: &[u8] =
            b"family assessment: the mother in Durres can care for the child";
        let assessment = self
            .submit(
                Who::Tirana,
                &case,
                "family_assessment",
                "best_interest_assessment",
                assessment_text,
                None,
                None,
            )
            .await?;
        let step = self
            .tirana
            .client
            .transition(&case, "assessed", None)
            .await?;
        self.say(
            self.tirana.id,
            &format!(
                "submitted the signed family assessment {}; case assessed",
                assessment.document.id
            ),
            Some("best_interest_assessment"),
            &step.id,
        );
        let read = self
            .open(
                Who::Comune,
                &assessment.document.id,
                "best_interest_assessment",
            )
            .await?;
        ensure!(
            read == assessment_text,
            "the municipality must read what the mission wrote"
        );
        self.say(
            self.comune.id,
            &format!(
                "read the assessment {} under the child's consent",
                assessment.document.id
            ),
            Some("best_interest_assessment"),
            "audited retrieval",
        );
        let report = self
            .submit(
                Who::Comune,
                &case,
                "social_report",
                "best_interest_assessment",
                b"social report on the child in Torino",
                None,
                None,
            )
            .await?;
        self.say(
            self.comune.id,
            &format!("submitted a social report {}", report.document.id),
            Some("best_interest_assessment"),
            &receipt_id(&report),
        );

        // Judicial review and the dossier.
        self.ministry
            .client
            .post::<_, serde_json::Value>(
                &format!("/v1/cases/{case}/members"),
                &serde_json::json!({ "party": "tm-roma" }),
            )
            .await?;
        let step = self
            .ministry
            .client
            .transition(&case, "under_judicial_review", None)
            .await?;
        self.say(
            self.ministry.id,
            "attached the juvenile court tm-roma; case under judicial review",
            None,
            &step.id,
        );
        let first = self.dir.join(format!("dossier-{case}-1.tar"));
        let dossier = self.court.client.dossier(&case, &first).await?;
        let report_1 = self.verify(&first)?;
        let awaiting: Vec<String> = report_1
            .awaiting_share
            .iter()
            .map(|a| a.id.to_string())
            .collect();
        ensure!(
            awaiting.contains(&assessment.document.id.to_string())
                && awaiting.contains(&report.document.id.to_string()),
            "the assessment and the social report must await a share: {awaiting:?}"
        );
        self.say(
            self.court.id,
            &format!(
                "retrieved dossier {dossier}: {} documents, {} awaiting share",
                report_1.documents.len(),
                awaiting.len()
            ),
            Some("judicial_decision"),
            &dossier,
        );
        let requests = self
            .inbox(Who::Ministry, NoticeKind::ShareRequest, &case)
            .await?;
        ensure!(
            requests.len() >= 2,
            "the ministry must be asked to share: {requests:?}"
        );
        for doc in [&assessment.document.id, &report.document.id] {
            self.share_with_court(doc).await?;
        }
        self.say(
            self.ministry.id,
            &format!(
                "answered the share requests ({}): wrapped the keys for tm-roma",
                requests.join(", ")
            ),
            Some("judicial_decision"),
            "share entries",
        );
        let second = self.dir.join(format!("dossier-{case}-2.tar"));
        let dossier = self.court.client.dossier(&case, &second).await?;
        let report_2 = self.verify(&second)?;
        ensure!(
            report_2.awaiting_share.is_empty(),
            "nothing may await a share now"
        );
        let opened = self
            .open(Who::Court, &assessment.document.id, "judicial_decision")
            .await?;
        ensure!(
            opened == assessment_text,
            "the court must read what the mission wrote"
        );
        self.say(
            self.court.id,
            &format!("retrieved dossier {dossier} ({} documents), verified it offline, opened the assessment", report_2.documents.len()),
            Some("judicial_decision"),
            &dossier,
        );

        // Decision for return, the return notice, reintegration.
        let decision = self
            .submit(
                Who::Court,
                &case,
                "court_decision",
                "judicial_decision",
                b"decision: assisted return to the family",
                None,
                None,
            )
            .await?;
        let step = self
            .court
            .client
            .transition(&case, "decided_return", None)
            .await?;
        self.say(
            self.court.id,
            &format!("decided the return ({})", decision.document.id),
            Some("judicial_decision"),
            &step.id,
        );
        let notice = self
            .submit(
                Who::Ministry,
                &case,
                "return_notice",
                "return_and_reintegration",
                b"return notice: departure on 2027-01-15",
                None,
                None,
            )
            .await?;
        let step = self
            .ministry
            .client
            .transition(&case, "return_scheduled", None)
            .await?;
        self.say(
            self.ministry.id,
            &format!(
                "issued the return notice {}; return scheduled",
                notice.document.id
            ),
            Some("return_and_reintegration"),
            &step.id,
        );
        let returns = self
            .inbox(Who::Comune, NoticeKind::ReturnNotice, &case)
            .await?;
        ensure!(
            returns.len() == 1,
            "the municipality must have one return notice: {returns:?}"
        );
        let page: InboxPage = self
            .comune
            .client
            .get("/v1/notices?kind=return_notice")
            .await?;
        let pushed = Notice::verify(&page.notices[0].notice, &self.broker_keys)?;
        ensure!(
            pushed.field("document") == Some(notice.document.id.as_str()),
            "the return notice must name the return notice document"
        );
        self.say(
            self.comune.id,
            "found the return notice in its inbox (ponte inbox --as comune-torino)",
            None,
            &returns[0],
        );
        let step = self
            .tirana
            .client
            .transition(&case, "returned", None)
            .await?;
        self.say(
            self.tirana.id,
            "accompanied the return; child returned",
            None,
            &step.id,
        );
        let plan = self
            .submit(
                Who::Tirana,
                &case,
                "reintegration_plan",
                "return_and_reintegration",
                b"individual reintegration plan",
                None,
                None,
            )
            .await?;
        let step = self
            .tirana
            .client
            .transition(&case, "reintegration", None)
            .await?;
        self.say(
            self.tirana.id,
            &format!(
                "submitted the reintegration plan {}; reintegration",
                plan.document.id
            ),
            Some("return_and_reintegration"),
            &step.id,
        );

        // The guardian withdraws the consent with the one-time code.
        let changed: ChangedConsent = self
            .anonymous
            .post(
                &format!("/v1/consents/{consent_id}/withdraw"),
                &serde_json::json!({ "code": code, "reason": "the guardian withdraws" }),
            )
            .await?;
        ensure!(
            changed.consent.state.as_str() == "withdrawn",
            "the consent must be withdrawn"
        );
        self.say(
            "guardian",
            &format!(
                "withdrew consent {consent_id} with the one-time code; {} withdrawal notice(s)",
                changed.notices.len()
            ),
            None,
            &consent_id,
        );
        match self
            .comune
            .client
            .envelope(assessment.document.id.as_str(), "best_interest_assessment")
            .await
        {
            Err(e) if e.code() == Some("consent_withdrawn") => {}
            other => bail!(
                "the municipality's read after the withdrawal was not refused: {:?}",
                other.map(|_| ())
            ),
        }
        self.say(
            self.comune.id,
            &format!(
                "reading the assessment {} is DENIED: consent_withdrawn",
                assessment.document.id
            ),
            Some("best_interest_assessment"),
            "audited denial",
        );
        let again = self
            .open(Who::Court, &assessment.document.id, "judicial_decision")
            .await?;
        ensure!(
            again == assessment_text,
            "the court's access on its legal basis must continue"
        );
        self.say(
            self.court.id,
            &format!(
                "still reads the assessment {}: its basis is a legal obligation",
                assessment.document.id
            ),
            Some("judicial_decision"),
            "audited retrieval",
        );
        let withdrawals = self
            .inbox(Who::Comune, NoticeKind::Withdrawal, &case)
            .await?;
        ensure!(
            !withdrawals.is_empty(),
            "the municipality must be told to delete what it received"
        );
        self.say(
            self.comune.id,
            "has the signed withdrawal notice: delete what was received under the consent",
            None,
            &withdrawals[0],
        );

        // The evidence: who read what about the child, and the log that proves it.
        let guardian = Client::for_party(&self.data_dir, "guardian-torino-1", &self.url)?;
        let report: crate::audit::access::AccessReport = guardian
            .get(&format!("/v1/cases/{case}/subjects/{CHILD}/accesses"))
            .await?;
        let denied = report
            .accesses
            .iter()
            .filter(|a| a.decision == "deny")
            .count();
        ensure!(
            denied >= 1,
            "the refused read must be in the child's access report"
        );
        self.say(
            "guardian-torino-1",
            &format!(
                "sees who read about {CHILD}: {} accesses, {denied} refused (ponte audit subject)",
                report.accesses.len()
            ),
            None,
            "access report",
        );
        let evidence: crate::http::audit::DocumentEvidence = self
            .tirana
            .client
            .get(&format!(
                "/v1/documents/{}/evidence",
                assessment.document.id
            ))
            .await?;
        let (unverified, _) = Checkpoint::parse_unverified(&evidence.checkpoint)?;
        let checkpoint = self
            .broker_keys
            .iter()
            .filter_map(|k| k.public_bytes().ok())
            .find_map(|k| Checkpoint::verify(&evidence.checkpoint, &unverified.origin, &k).ok())
            .ok_or_else(|| anyhow!("the checkpoint must carry the broker's signature"))?;
        let (leaf, inclusion) = evidence
            .events
            .iter()
            .find(|e| e.action == "DocumentAccepted")
            .and_then(|e| e.inclusion.as_ref().map(|i| (e, i)))
            .ok_or_else(|| anyhow!("the assessment's acceptance must be in the log"))?;
        let path: Vec<merkle::Hash> = inclusion
            .proof
            .iter()
            .filter_map(|h| merkle::parse_hex(h))
            .collect();
        ensure!(
            merkle::verify_inclusion(
                &merkle::leaf_hash(leaf.leaf.as_bytes()),
                inclusion.leaf_index,
                checkpoint.size,
                &path,
                &checkpoint.root
            ),
            "the acceptance must be included in the signed checkpoint"
        );
        self.say(
            self.tirana.id,
            &format!(
                "checked its assessment's acceptance is leaf {} of the signed checkpoint of {} leaves",
                inclusion.leaf_index, checkpoint.size
            ),
            None,
            &format!("{} @ {}", checkpoint.origin, checkpoint.size),
        );

        let history: crate::http::cases::Workflow = self
            .ministry
            .client
            .get(&format!("/v1/cases/{case}/transitions"))
            .await?;
        ensure!(
            history.transitions.len() == 8,
            "eight steps were taken: {}",
            history.transitions.len()
        );
        println!(
            "\nevery step behaved as described; case {case} is now {}",
            history.state.as_str()
        );
        println!(
            "dossiers kept in {dir}; check one offline with\n  ponte dossier verify {dir}/dossier-{case}-2.tar --jwks {dir}/broker-jwks.json",
            dir = self.dir.display()
        );
        Ok(())
    }

    fn actor(&self, who: Who) -> &Actor {
        match who {
            Who::Comune => &self.comune,
            Who::Ministry => &self.ministry,
            Who::Rome => &self.rome,
            Who::Tirana => &self.tirana,
            Who::Court => &self.court,
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn submit(
        &self,
        who: Who,
        case: &str,
        document_type: &str,
        purpose: &str,
        document: &[u8],
        supersedes: Option<DocumentId>,
        agreement: Option<&str>,
    ) -> anyhow::Result<SubmitAnswer> {
        let actor = self.actor(who);
        let plan = actor
            .client
            .plan(case, document_type, purpose, &[CHILD])
            .await?;
        let keys: Vec<Jwk> = plan
            .recipients
            .iter()
            .flat_map(|p| p.keys.iter())
            .filter_map(|k| serde_json::from_value(k.clone()).ok())
            .collect();
        let draft = Draft {
            document_id: DocumentId::generate(),
            case: crate::cases::CaseId::parse(case)?,
            document_type: document_type.parse()?,
            purpose: purpose
                .parse()
                .map_err(|e: crate::consent::UnknownPurpose| anyhow!("{e}"))?,
            subjects: vec![SubjectId::parse(CHILD)?],
            supersedes,
            media_type: "text/plain".into(),
        };
        let prepared = party::prepare(document, &draft, &actor.sign, &keys)?;
        let (_, answer) = actor
            .client
            .submit_with_agreement(case, &prepared.manifest_token, prepared.envelope, agreement)
            .await?;
        crate::documents::receipt::Receipt::verify(&answer.receipt, &self.broker_keys)
            .context("the receipt must verify against the broker's keys")?;
        Ok(answer)
    }

    async fn open(
        &self,
        who: Who,
        document: &DocumentId,
        purpose: &str,
    ) -> anyhow::Result<Vec<u8>> {
        let actor = self.actor(who);
        let fetched = actor.client.envelope(document.as_str(), purpose).await?;
        let receipt =
            crate::documents::receipt::Receipt::verify(&fetched.receipt, &self.broker_keys)?;
        let author: serde_json::Value = actor
            .client
            .get(&format!("/v1/parties/{}/jwks.json", receipt.submitter))
            .await?;
        let opened = party::open(
            &fetched.envelope,
            &fetched.manifest,
            &receipt.submitter,
            &jwks_keys(&author),
            std::slice::from_ref(&actor.enc),
        )?;
        Ok(opened.plaintext)
    }

    /// The ministry, a holder, wraps the content key for the court.
    async fn share_with_court(&self, document: &DocumentId) -> anyhow::Result<()> {
        let fetched = self
            .ministry
            .client
            .envelope(document.as_str(), "case_oversight")
            .await?;
        let court: serde_json::Value = self
            .ministry
            .client
            .get("/v1/parties/tm-roma/jwks.json")
            .await?;
        let court_key = jwks_keys(&court)
            .into_iter()
            .find(|k| k.key_use == crate::jose::KeyUse::Encrypt)
            .ok_or_else(|| anyhow!("tm-roma has no encryption key"))?;
        let entry = party::share_entry(
            &fetched.envelope,
            std::slice::from_ref(&self.ministry.enc),
            &court_key,
        )?;
        self.ministry
            .client
            .share(document.as_str(), "tm-roma", "judicial_decision", &entry)
            .await?;
        Ok(())
    }

    /// The ids of the notices of `kind` about `case` in a party's inbox.
    async fn inbox(&self, who: Who, kind: NoticeKind, case: &str) -> anyhow::Result<Vec<String>> {
        let page: InboxPage = self
            .actor(who)
            .client
            .get(&format!("/v1/notices?kind={}&limit=200", kind.as_str()))
            .await?;
        let notices: Vec<_> = page
            .notices
            .into_iter()
            .filter(|n| n.case.as_ref().map(|c| c.as_str()) == Some(case))
            .collect();
        for n in &notices {
            if kind != NoticeKind::Withdrawal {
                Notice::verify(&n.notice, &self.broker_keys)
                    .context("a notice must carry the broker's signature")?;
            }
        }
        Ok(notices.into_iter().map(|n| n.id).collect())
    }

    fn verify(&self, file: &std::path::Path) -> anyhow::Result<crate::dossiers::DossierManifest> {
        let archive = std::fs::File::open(file)?;
        let report = verify::verify(std::io::BufReader::new(archive), &self.broker_keys)?;
        if !report.ok() {
            let failed: Vec<&str> = report
                .checks
                .iter()
                .filter(|c| !c.ok)
                .map(|c| c.what.as_str())
                .collect();
            bail!("the dossier {} does not verify: {failed:?}", file.display());
        }
        report
            .manifest
            .ok_or_else(|| anyhow!("the dossier has no manifest"))
    }
}

#[derive(Debug, Clone, Copy)]
enum Who {
    Comune,
    Ministry,
    Rome,
    Tirana,
    Court,
}

fn receipt_id(answer: &SubmitAnswer) -> String {
    format!(
        "receipt sha256:{}",
        &crate::pki::sha256_hex(answer.receipt.as_bytes())[..16]
    )
}
