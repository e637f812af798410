//! Identity and access: users, roles and units, passwords, tokens, sessions, SMART clients,
//! break-glass, and the one authorization function, [`policy::may`].

pub mod clients;
pub mod email;
pub mod keys;
pub mod known;
pub mod mfa;
pub mod password;
pub mod policy;
pub mod principal;
pub mod sessions;
pub mod signed;
pub mod throttle;
pub mod tokens;
pub mod users;

use std::fmt;
use std::str::FromStr;

/// What a user is for; decides what they may do (see `policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Ward nurse, care manager, discharge planner: patients of their units.
    Clinician,
    /// Clinical informatics, data science: models and reports, patients of all units.
    Informatics,
    /// Users, units, rules, audit review; no patient records.
    Admin,
    /// A system account for integration engineers: the FHIR API.
    Integration,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Clinician => "clinician",
            Self::Informatics => "informatics",
            Self::Admin => "admin",
            Self::Integration => "integration",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "clinician" => Ok(Self::Clinician),
            "informatics" => Ok(Self::Informatics),
            "admin" => Ok(Self::Admin),
            "integration" => Ok(Self::Integration),
            other => Err(format!("unknown role {other:?}")),
        }
    }
}
