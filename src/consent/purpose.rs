//! Purposes of processing: a closed registry, each with its lawful basis.
//! Every read, write, share and recipient plan names one.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The lawful basis a purpose rests on (GDPR article 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LawfulBasis {
    Consent,
    LegalObligation,
    PublicTask,
}

impl LawfulBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            LawfulBasis::Consent => "consent",
            LawfulBasis::LegalObligation => "legal_obligation",
            LawfulBasis::PublicTask => "public_task",
        }
    }
}

/// Why personal data is collected, read or shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    FamilyTracing,
    BestInterestAssessment,
    JudicialDecision,
    ReturnAndReintegration,
    CaseOversight,
    /// Anonymised statistics only: never a reason to read a document.
    Statistics,
}

impl Purpose {
    pub const ALL: [Purpose; 6] = [
        Purpose::FamilyTracing,
        Purpose::BestInterestAssessment,
        Purpose::JudicialDecision,
        Purpose::ReturnAndReintegration,
        Purpose::CaseOversight,
        Purpose::Statistics,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::FamilyTracing => "family_tracing",
            Purpose::BestInterestAssessment => "best_interest_assessment",
            Purpose::JudicialDecision => "judicial_decision",
            Purpose::ReturnAndReintegration => "return_and_reintegration",
            Purpose::CaseOversight => "case_oversight",
            Purpose::Statistics => "statistics",
        }
    }

    /// What the purpose is, in words a data subject can read.
    pub fn description(self) -> &'static str {
        match self {
            Purpose::FamilyTracing => {
                "Finding the child's family in the country of origin or a third country."
            }
            Purpose::BestInterestAssessment => {
                "Assessing the family so the durable solution is in the child's best interest."
            }
            Purpose::JudicialDecision => {
                "The juvenile court deciding the child's durable solution."
            }
            Purpose::ReturnAndReintegration => {
                "Organising an assisted voluntary return and the reintegration plan."
            }
            Purpose::CaseOversight => "The Ministry overseeing the case as the law requires.",
            Purpose::Statistics => "Anonymised statistics only; never a reason to read a document.",
        }
    }

    pub fn basis(self) -> LawfulBasis {
        match self {
            Purpose::FamilyTracing
            | Purpose::BestInterestAssessment
            | Purpose::ReturnAndReintegration => LawfulBasis::Consent,
            Purpose::JudicialDecision => LawfulBasis::LegalObligation,
            Purpose::CaseOversight | Purpose::Statistics => LawfulBasis::PublicTask,
        }
    }
}

/// One entry of the registry, as the API and the CLI show it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PurposeInfo {
    pub purpose: Purpose,
    pub basis: LawfulBasis,
    pub description: String,
}

/// The whole registry.
pub fn registry() -> Vec<PurposeInfo> {
    Purpose::ALL
        .into_iter()
        .map(|purpose| PurposeInfo {
            purpose,
            basis: purpose.basis(),
            description: purpose.description().to_owned(),
        })
        .collect()
}

/// A purpose name that is not in the registry.
#[derive(Debug, thiserror::Error)]
#[error("unknown purpose {0:?}; purposes are family_tracing, best_interest_assessment, judicial_decision, return_and_reintegration, case_oversight, statistics")]
pub struct UnknownPurpose(pub String);

impl FromStr for Purpose {
    type Err = UnknownPurpose;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Purpose::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownPurpose(s.to_owned()))
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_is_closed_and_each_purpose_has_its_basis() {
        for p in Purpose::ALL {
            assert_eq!(p.as_str().parse::<Purpose>().unwrap(), p);
        }
        assert!("marketing".parse::<Purpose>().is_err());
        assert_eq!(
            Purpose::JudicialDecision.basis(),
            LawfulBasis::LegalObligation
        );
        assert_eq!(Purpose::FamilyTracing.basis(), LawfulBasis::Consent);
    }
}
