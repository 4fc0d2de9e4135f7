//! The demo's closing chapters: the decision and the return, the
//! withdrawal, and the evidence.

use anyhow::{anyhow, bail, ensure};

use super::{Demo, Who, ASSESSMENT, CHILD};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::merkle;
use crate::client::Client;
use crate::http::consent::ChangedConsent;
use crate::http::documents::SubmitAnswer;
use crate::notices::{InboxPage, Notice, NoticeKind};

impl Demo {
    /// The decision for return, the return notice, the return and the
    /// reintegration plan.
    pub(super) async fn decide_and_return(&mut self, case: &str) -> anyhow::Result<()> {
        let case = case.to_owned();
        // Decision for return, the return notice, reintegration.
        let decision = self
            .submit(
                Who::Court,
                &case,
                "court_decision",
                "judicial_decision",
                b"decision: assisted return to the family",
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

        Ok(())
    }

    /// The guardian withdraws with the code: the municipality is refused,
    /// the court reads on, the municipality is told to delete.
    pub(super) async fn withdraw(
        &mut self,
        consent_id: &str,
        code: &str,
        assessment: &SubmitAnswer,
    ) -> anyhow::Result<()> {
        let assessment_text = ASSESSMENT;
        let case = assessment.document.case.to_string();
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
            consent_id,
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

        Ok(())
    }

    /// Who read what about the child, and the log that proves it.
    pub(super) async fn evidence(
        &mut self,
        case: &str,
        assessment: &SubmitAnswer,
    ) -> anyhow::Result<()> {
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

        Ok(())
    }
}
