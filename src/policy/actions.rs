//! The actions of the Cedar schema (`policies/schema.cedarschema`), one per
//! route. A test checks that each exists in the schema and each route has one.

use std::fmt;

macro_rules! actions {
    ($($name:ident),* $(,)?) => {
        /// An action a caller asks the broker to perform, named as in the schema.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Action {
            $($name),*
        }

        impl Action {
            /// Every action, in schema order.
            pub const ALL: &'static [Action] = &[$(Action::$name),*];

            /// The action's name in the Cedar schema.
            pub fn name(self) -> &'static str {
                match self {
                    $(Action::$name => stringify!($name)),*
                }
            }
        }

        $(
            #[doc = concat!("The `", stringify!($name), "` action, as a type for [`super::Authorized`].")]
            #[derive(Debug)]
            pub struct $name;
            impl ActionKind for $name {
                const ACTION: Action = Action::$name;
            }
        )*
    };
}

actions!(
    Health,
    Ready,
    Metrics,
    ReadBrokerKeys,
    ReadApiDescription,
    ReadMe,
    ListParties,
    ReadParty,
    ListPurposes,
    OpenCase,
    ListCases,
    ReadCase,
    AttachParty,
    ReadRecipientPlan,
    SubmitDocument,
    ReceiveDocument,
    ListDocuments,
    ReadDocument,
    ShareDocument,
    AddSubject,
    ListSubjects,
    RecordConsent,
    ListConsents,
    ReadConsent,
    ChangeConsent,
    WithdrawConsentWithCode,
    ListNotices,
    ReadNotice,
    AcknowledgeNotice,
    ListCaseNotices,
    SetLegalHold,
    LiftLegalHold,
    TransitionCase,
    ReadDossier,
    ReadWebhook,
    SetWebhook,
    RemoveWebhook,
    ReadCheckpoint,
    PublishCheckpoint,
    ReadAuditProof,
    ReadDocumentEvidence,
    ReadSubjectAccesses,
);

impl Action {
    /// Actions no request performs: asked of the policy on a party's behalf
    /// (whether it is entitled to receive a document, for the recipient plan).
    pub fn is_entitlement(self) -> bool {
        matches!(self, Action::ReceiveDocument)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A type standing for one action, so an [`super::Authorized`] proof names
/// the action it was granted for.
pub trait ActionKind {
    const ACTION: Action;
}
