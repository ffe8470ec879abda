//! The internal value both mapping and filtering findings are expressed in,
//! so that one combiner handles agreement and disagreement for both.

use crate::verdict::{Behaviour, Confidence};

/// A mapping or filtering finding, ordered by restrictiveness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Class {
    /// Endpoint-independent.
    Ei,
    /// Known not to be endpoint-independent; which dependent kind is unknown.
    NotEi,
    /// Address-dependent.
    Ad,
    /// Address-and-port-dependent.
    Apd,
}

impl Class {
    /// The public behaviour value (`NotEi` has no public spelling: unknown).
    pub(crate) fn behaviour(self) -> Behaviour {
        match self {
            Class::Ei => Behaviour::EndpointIndependent,
            Class::Ad => Behaviour::AddressDependent,
            Class::Apd => Behaviour::AddressAndPortDependent,
            Class::NotEi => Behaviour::Unknown,
        }
    }

    /// Whether two findings can both be true.
    pub(crate) fn compatible(self, other: Class) -> bool {
        self == other
            || matches!(
                (self, other),
                (Class::NotEi, Class::Ad | Class::Apd) | (Class::Ad | Class::Apd, Class::NotEi)
            )
    }

    /// Short name for evidence text.
    pub(crate) fn label(self, what: &str) -> String {
        match self {
            Class::Ei => format!("endpoint-independent {what}"),
            Class::NotEi => format!("not endpoint-independent {what}"),
            Class::Ad => format!("address-dependent {what}"),
            Class::Apd => format!("address-and-port-dependent {what}"),
        }
    }
}

/// A finding with its confidence.
pub(crate) type Finding = (Class, Confidence);
