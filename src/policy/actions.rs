//! The actions of the Cedar schema (`policies/schema.cedarschema`), one per
//! route. A test checks that each exists in the schema and each route has one.

use std::fmt;

/// An action a caller asks the broker to perform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Health,
    Ready,
    Metrics,
    ReadBrokerKeys,
    ReadApiDescription,
    ReadMe,
    ListParties,
    ReadParty,
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
}

impl Action {
    pub const ALL: [Action; 18] = [
        Action::Health,
        Action::Ready,
        Action::Metrics,
        Action::ReadBrokerKeys,
        Action::ReadApiDescription,
        Action::ReadMe,
        Action::ListParties,
        Action::ReadParty,
        Action::OpenCase,
        Action::ListCases,
        Action::ReadCase,
        Action::AttachParty,
        Action::ReadRecipientPlan,
        Action::SubmitDocument,
        Action::ReceiveDocument,
        Action::ListDocuments,
        Action::ReadDocument,
        Action::ShareDocument,
    ];

    /// Actions no request performs: asked of the policy on a party's behalf
    /// (whether it is entitled to receive a document, for the recipient plan).
    pub fn is_entitlement(self) -> bool {
        matches!(self, Action::ReceiveDocument)
    }

    /// The action's name in the Cedar schema.
    pub fn name(self) -> &'static str {
        match self {
            Action::Health => "Health",
            Action::Ready => "Ready",
            Action::Metrics => "Metrics",
            Action::ReadBrokerKeys => "ReadBrokerKeys",
            Action::ReadApiDescription => "ReadApiDescription",
            Action::ReadMe => "ReadMe",
            Action::ListParties => "ListParties",
            Action::ReadParty => "ReadParty",
            Action::OpenCase => "OpenCase",
            Action::ListCases => "ListCases",
            Action::ReadCase => "ReadCase",
            Action::AttachParty => "AttachParty",
            Action::ReadRecipientPlan => "ReadRecipientPlan",
            Action::SubmitDocument => "SubmitDocument",
            Action::ReceiveDocument => "ReceiveDocument",
            Action::ListDocuments => "ListDocuments",
            Action::ReadDocument => "ReadDocument",
            Action::ShareDocument => "ShareDocument",
        }
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

macro_rules! action_kinds {
    ($($name:ident),* $(,)?) => {
        $(
            #[doc = concat!("The `", stringify!($name), "` action.")]
            #[derive(Debug)]
            pub struct $name;
            impl ActionKind for $name {
                const ACTION: Action = Action::$name;
            }
        )*
    };
}

action_kinds!(
    ReadMe,
    ListParties,
    ReadParty,
    OpenCase,
    ListCases,
    ReadCase,
    AttachParty,
    ReadRecipientPlan,
    SubmitDocument,
    ListDocuments,
    ReadDocument,
    ShareDocument,
);
