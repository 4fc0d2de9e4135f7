//! The demo's opening chapters, in the order of the process: the case and
//! consent, entrustment and assignment, assessment, judicial review.
//! Each step checks the broker behaved as described.

use anyhow::{anyhow, bail, ensure};

use super::{receipt_id, Demo, Who, ASSESSMENT, CHILD};
use crate::client::ClientError;
use crate::clock::rfc3339;
use crate::http::consent::RecordedConsent;
use crate::http::documents::SubmitAnswer;
use crate::notices::NoticeKind;

impl Demo {
    /// The municipality opens the case for a child in its care and records
    /// the consent the guardian gives. Answers (case, consent, code).
    pub(super) async fn open_case(&mut self) -> anyhow::Result<(String, String, String)> {
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

        Ok((case, consent_id, code))
    }

    /// Request, entrustment, assignment; a step out of order is refused.
    pub(super) async fn entrust_and_assign(&mut self, case: &str) -> anyhow::Result<()> {
        let case = case.to_owned();
        // Request, entrustment, assignment.
        let request = self
            .submit(
                Who::Comune,
                &case,
                "tracing_request",
                "family_tracing",
                b"request for family tracing",
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

        Ok(())
    }

    /// The mission's assessment, read by the municipality; a social report.
    pub(super) async fn assess(
        &mut self,
        case: &str,
    ) -> anyhow::Result<(SubmitAnswer, SubmitAnswer)> {
        let case = case.to_owned();
        let assessment_text = ASSESSMENT;
        // Assessment and social report.
        let assessment = self
            .submit(
                Who::Tirana,
                &case,
                "family_assessment",
                "best_interest_assessment",
                assessment_text,
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
            )
            .await?;
        self.say(
            self.comune.id,
            &format!("submitted a social report {}", report.document.id),
            Some("best_interest_assessment"),
            &receipt_id(&report),
        );

        Ok((assessment, report))
    }

    /// The court is attached, its dossier awaits shares, the ministry
    /// shares, and the second dossier verifies offline.
    pub(super) async fn judicial_review(
        &mut self,
        case: &str,
        assessment: &SubmitAnswer,
        report: &SubmitAnswer,
    ) -> anyhow::Result<()> {
        let case = case.to_owned();
        let assessment_text = ASSESSMENT;
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

        Ok(())
    }
}
