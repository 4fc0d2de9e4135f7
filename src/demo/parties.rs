//! What the demo parties do through the client: submit, open, share,
//! read their inbox, verify a dossier.

use anyhow::{anyhow, bail, Context};

use super::{Actor, Demo, Who, CHILD};
use crate::documents::party::{self, Draft};
use crate::documents::receipt::jwks_keys;
use crate::documents::{DocumentId, SubjectId};
use crate::dossiers::verify;
use crate::http::documents::SubmitAnswer;
use crate::jose::Jwk;
use crate::notices::{InboxPage, Notice, NoticeKind};

impl Demo {
    pub(super) fn actor(&self, who: Who) -> &Actor {
        match who {
            Who::Comune => &self.comune,
            Who::Ministry => &self.ministry,
            Who::Rome => &self.rome,
            Who::Tirana => &self.tirana,
            Who::Court => &self.court,
        }
    }

    /// Signs, encrypts to the current plan and submits a document about the child.
    pub(super) async fn submit(
        &self,
        who: Who,
        case: &str,
        document_type: &str,
        purpose: &str,
        document: &[u8],
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
            supersedes: None,
            media_type: "text/plain".into(),
        };
        let prepared = party::prepare(document, &draft, &actor.sign, &keys)?;
        let (_, answer) = actor
            .client
            .submit(case, &prepared.manifest_token, prepared.envelope)
            .await?;
        crate::documents::receipt::Receipt::verify(&answer.receipt, &self.broker_keys)
            .context("the receipt must verify against the broker's keys")?;
        Ok(answer)
    }

    pub(super) async fn open(
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
    pub(super) async fn share_with_court(&self, document: &DocumentId) -> anyhow::Result<()> {
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
    pub(super) async fn inbox(
        &self,
        who: Who,
        kind: NoticeKind,
        case: &str,
    ) -> anyhow::Result<Vec<String>> {
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

    pub(super) fn verify(
        &self,
        file: &std::path::Path,
    ) -> anyhow::Result<crate::dossiers::DossierManifest> {
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
