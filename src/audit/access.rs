//! "Who read my data": every decision about a document that concerns a data
//! subject — who, when, for which purpose, on which lawful basis, allowed
//! or denied — with the leaf that proves it, read from the audit log.

use serde::{Deserialize, Serialize};

use super::log::{event_of, EVENT_COLUMNS};
use super::AuditEvent;
use crate::cases::CaseId;
use crate::documents::store;
use crate::documents::{DocumentError, DocumentId, SubjectId};
use crate::policy::actions::ReadSubjectAccesses;
use crate::policy::Authorized;
use crate::storage::Db;

/// One access (or attempt) to a document about the subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Access {
    pub at: String,
    /// The party that asked (`party:<id>`).
    pub who: String,
    /// `ReadDocument`, `ShareDocument`, `DossierRetrieved`, `DocumentAccepted`.
    pub action: String,
    pub document: DocumentId,
    pub document_type: String,
    pub purpose: Option<String>,
    pub basis: Option<String>,
    /// `allow`, `deny` or `done`.
    pub decision: String,
    /// The consent state the decision saw, when the purpose rests on consent.
    pub consent_state: Option<String>,
    /// The event's leaf in the Merkle log, once integrated.
    pub leaf_index: Option<u64>,
}

/// Everything the log says about the documents of one data subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct AccessReport {
    pub case: CaseId,
    pub subject: SubjectId,
    pub documents: Vec<DocumentId>,
    /// Oldest first.
    pub accesses: Vec<Access>,
}

/// The accesses to documents about `subject` on `case`.
pub async fn for_subject(
    db: &Db,
    _proof: &Authorized<ReadSubjectAccesses>,
    case: &CaseId,
    subject: &SubjectId,
) -> Result<AccessReport, DocumentError> {
    let docs: Vec<_> = store::list_for_case(db, case)
        .await?
        .into_iter()
        .filter(|d| d.subjects.contains(subject))
        .collect();
    let mut accesses = Vec::new();
    if !docs.is_empty() {
        let placeholders: Vec<String> = (2..docs.len() + 2).map(|i| format!("${i}")).collect();
        let sql = format!(
            "select {EVENT_COLUMNS}, l.leaf_index from audit_event e
             left join audit_leaf l on l.event_seq = e.seq
             where (e.resource in ({}) and e.action in ('ReadDocument', 'ShareDocument', 'DocumentAccepted'))
                or (e.resource = $1 and e.action = 'DossierRetrieved')
             order by e.seq",
            placeholders.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(format!("case:{case}"));
        for d in &docs {
            query = query.bind(format!("document:{}", d.id));
        }
        for row in query.fetch_all(db.pool()).await? {
            let (_, event) = event_of(&row)?;
            let leaf_index =
                sqlx::Row::try_get::<Option<i64>, _>(&row, "leaf_index")?.map(|i| i as u64);
            for doc in &docs {
                if concerns(&event, &doc.id) {
                    accesses.push(access(&event, doc, leaf_index));
                }
            }
        }
    }
    Ok(AccessReport {
        case: case.clone(),
        subject: subject.clone(),
        documents: docs.into_iter().map(|d| d.id).collect(),
        accesses,
    })
}

fn concerns(event: &AuditEvent, doc: &DocumentId) -> bool {
    if event.action == "DossierRetrieved" {
        return event.detail["documents"]
            .as_array()
            .is_some_and(|list| list.iter().any(|d| d.as_str() == Some(doc.as_str())));
    }
    event.resource == format!("document:{doc}")
}

fn access(event: &AuditEvent, doc: &store::DocumentRecord, leaf_index: Option<u64>) -> Access {
    let detail = &event.detail;
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    let context = &detail["context"];
    let (purpose, basis) =
        if event.action == "DocumentAccepted" || event.action == "DossierRetrieved" {
            (text(&detail["purpose"]), text(&detail["basis"]))
        } else {
            (text(&context["purpose"]), text(&context["basis"]))
        };
    Access {
        at: event.at.clone(),
        who: event.principal.clone(),
        action: event.action.clone(),
        document: doc.id.clone(),
        document_type: doc.document_type.as_str().to_owned(),
        purpose,
        basis,
        decision: event.outcome.as_str().to_owned(),
        consent_state: text(&context["consent_state"]).filter(|s| s != "not_required"),
        leaf_index,
    }
}
