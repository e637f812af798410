//! The one authorization function. Pure: the caller gathers the facts (who, what, the
//! patient's units, whether a break-glass grant is active) and acts on the decision.

use super::Role;
use super::principal::{Principal, Scopes};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read a patient's records of the given FHIR resource type (or a view built from them).
    Read,
    /// Create or change patient records of the given resource type.
    Write,
    /// Answer an alert about a patient (acknowledge, snooze, dismiss, reopen), or a CDS card.
    Respond,
    /// Open a patient outside one's units, giving a reason.
    BreakGlass,
    /// Review break-glass grants and the audit trail.
    ReviewAccess,
    /// See and change how Vigil alerts: threshold rules.
    Configure,
    /// See the model registry and reports; activate, shadow, retire and roll back models.
    ManageModels,
    /// Manage people, care units and their escalation contacts, and API clients.
    Administer,
}

/// What the action is on.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    Patient {
        /// The FHIR resource type being read or written (Patient, Encounter, RiskAssessment...).
        resource_type: &'a str,
        /// The care units the patient belongs to.
        units: &'a [String],
        /// The principal holds an unexpired break-glass grant for this patient.
        break_glass: bool,
    },
    System,
    /// Figures summed over many patients, naming none (the capacity forecast), of data of the
    /// given resource type.
    Aggregate {
        resource_type: &'a str,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Allowed only because of a break-glass grant: the access is flagged in the audit.
    AllowUnderBreakGlass,
    Deny(DenyReason),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    OutsideUnits,
    Role,
    Scope,
}

impl DenyReason {
    pub fn message(self) -> &'static str {
        match self {
            Self::OutsideUnits => {
                "this patient is not on your units; open the record with break-glass access and a reason if you must"
            }
            Self::Role => "your role does not allow this",
            Self::Scope => "the token's scopes do not allow this",
        }
    }
}

pub fn may(principal: &Principal, action: Action, target: Target<'_>) -> Decision {
    match principal {
        Principal::User(user) => may_user(user.role, &user.units, action, target),
        Principal::Client { scopes, .. } => match (action, target) {
            (Action::Read | Action::Write, Target::Patient { resource_type, .. })
            | (Action::Read, Target::Aggregate { resource_type }) => {
                if scopes.allow(resource_type, action == Action::Write) {
                    Decision::Allow
                } else {
                    Decision::Deny(DenyReason::Scope)
                }
            }
            // A CDS client answers about the cards it was given, which only a reader of scores gets.
            (Action::Respond, Target::Patient { resource_type: CDS_CARD, .. }) => {
                if scopes.allow("RiskAssessment", false) { Decision::Allow } else { Decision::Deny(DenyReason::Scope) }
            }
            _ => Decision::Deny(DenyReason::Scope),
        },
    }
}

/// What a CDS Hooks card is, to access control: it leads to the patient it was about.
pub const CDS_CARD: &str = "CdsCard";

/// The principal's write permissions as scopes, or None when they may write nothing. A Bundle or an
/// import is checked against them before its body is read (each type it holds once known), and
/// work done later on the principal's behalf (an import job) checks each resource against them.
pub fn write_scopes(principal: &Principal) -> Option<Scopes> {
    match principal {
        Principal::Client { scopes, .. } => scopes.writes(),
        Principal::User(user) => {
            let any = Target::Patient { resource_type: "Patient", units: &[], break_glass: false };
            // A role's write permission does not depend on the type.
            matches!(may_user(user.role, &user.units, Action::Write, any), Decision::Allow).then(Scopes::write_all)
        }
    }
}

/// Which patients a principal's searches may return (each one still audited): clinicians see the
/// patients of their units (and those they opened with break-glass); everyone else whom `may`
/// lets read at all sees every patient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    All,
    Units { units: Vec<String>, user_id: i64 },
}

pub fn visibility(principal: &Principal) -> Visibility {
    match principal {
        Principal::User(user) if user.role == Role::Clinician => {
            Visibility::Units { units: user.units.clone(), user_id: user.id }
        }
        _ => Visibility::All,
    }
}

fn may_user(role: Role, user_units: &[String], action: Action, target: Target<'_>) -> Decision {
    use Decision::*;
    match (role, action, target) {
        // Who may read a patient's records may answer their alerts; only clinicians do.
        (Role::Clinician, Action::Read | Action::Respond, Target::Patient { units, break_glass, .. }) => {
            if units.iter().any(|u| user_units.contains(u)) {
                Allow
            } else if break_glass {
                AllowUnderBreakGlass
            } else {
                Deny(DenyReason::OutsideUnits)
            }
        }
        (Role::Clinician, Action::BreakGlass, Target::Patient { .. }) => Allow,
        (Role::Informatics, Action::Read, Target::Patient { .. }) => Allow,
        (Role::Integration, Action::Read | Action::Write, Target::Patient { .. }) => Allow,
        (Role::Admin | Role::Informatics, Action::Configure, Target::System) => Allow,
        (Role::Informatics, Action::ManageModels, Target::System) => Allow,
        (Role::Admin, Action::Administer | Action::ReviewAccess, Target::System) => Allow,
        // Ward and hospital planning: no patient is named.
        (Role::Clinician | Role::Informatics | Role::Admin, Action::Read, Target::Aggregate { .. }) => Allow,
        _ => Deny(DenyReason::Role),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::users::User;

    fn user(role: Role, units: &[&str]) -> Principal {
        Principal::User(User {
            id: 1,
            username: "u".into(),
            display_name: "U".into(),
            role,
            units: units.iter().map(|u| u.to_string()).collect(),
            disabled: false,
            mfa_enrolled: false,
            password_changed_at: chrono::DateTime::UNIX_EPOCH,
        })
    }

    fn patient<'a>(units: &'a [String], break_glass: bool) -> Target<'a> {
        Target::Patient { resource_type: "Patient", units, break_glass }
    }

    #[test]
    fn clinicians_see_their_units_and_others_only_under_break_glass() {
        let icu = vec!["ICU".to_string()];
        let ward = vec!["WARD-4".to_string()];
        let nurse = user(Role::Clinician, &["ICU"]);
        assert_eq!(may(&nurse, Action::Read, patient(&icu, false)), Decision::Allow);
        assert_eq!(may(&nurse, Action::Read, patient(&ward, false)), Decision::Deny(DenyReason::OutsideUnits));
        assert_eq!(may(&nurse, Action::Read, patient(&ward, true)), Decision::AllowUnderBreakGlass);
        assert_eq!(may(&nurse, Action::Read, patient(&[], false)), Decision::Deny(DenyReason::OutsideUnits));
        assert_eq!(may(&nurse, Action::Write, patient(&icu, false)), Decision::Deny(DenyReason::Role));
        assert_eq!(may(&nurse, Action::ReviewAccess, Target::System), Decision::Deny(DenyReason::Role));
    }

    #[test]
    fn only_clinicians_who_may_read_a_patient_answer_their_alerts() {
        let (icu, ward) = (vec!["ICU".to_string()], vec!["WARD-4".to_string()]);
        let nurse = user(Role::Clinician, &["ICU"]);
        assert_eq!(may(&nurse, Action::Respond, patient(&icu, false)), Decision::Allow);
        assert_eq!(may(&nurse, Action::Respond, patient(&ward, false)), Decision::Deny(DenyReason::OutsideUnits));
        assert_eq!(may(&nurse, Action::Respond, patient(&ward, true)), Decision::AllowUnderBreakGlass);
        for role in [Role::Informatics, Role::Admin, Role::Integration] {
            assert_eq!(
                may(&user(role, &["ICU"]), Action::Respond, patient(&icu, false)),
                Decision::Deny(DenyReason::Role)
            );
        }
        let client = Principal::Client { client_id: "c".into(), scopes: Scopes::parse("system/*.*").expect("scopes") };
        assert_eq!(may(&client, Action::Respond, patient(&icu, false)), Decision::Deny(DenyReason::Scope));
    }

    #[test]
    fn a_cds_client_answers_cards_only_if_it_may_read_scores() {
        let card = Target::Patient { resource_type: CDS_CARD, units: &[], break_glass: false };
        let client =
            |scopes: &str| Principal::Client { client_id: "c".into(), scopes: Scopes::parse(scopes).expect("scopes") };
        assert_eq!(may(&client("system/RiskAssessment.read"), Action::Respond, card), Decision::Allow);
        assert_eq!(may(&client("system/Patient.read"), Action::Respond, card), Decision::Deny(DenyReason::Scope));
    }

    #[test]
    fn admins_and_informatics_configure_alerting() {
        for (role, decision) in [
            (Role::Admin, Decision::Allow),
            (Role::Informatics, Decision::Allow),
            (Role::Clinician, Decision::Deny(DenyReason::Role)),
            (Role::Integration, Decision::Deny(DenyReason::Role)),
        ] {
            assert_eq!(may(&user(role, &[]), Action::Configure, Target::System), decision, "{role:?}");
        }
    }

    #[test]
    fn informatics_manage_models_and_admins_manage_people() {
        for role in [Role::Clinician, Role::Informatics, Role::Admin, Role::Integration] {
            let who = user(role, &["ICU"]);
            let models = may(&who, Action::ManageModels, Target::System);
            let people = may(&who, Action::Administer, Target::System);
            assert_eq!(models == Decision::Allow, role == Role::Informatics, "{role:?} models");
            assert_eq!(people == Decision::Allow, role == Role::Admin, "{role:?} administration");
        }
        let client = Principal::Client { client_id: "c".into(), scopes: Scopes::parse("system/*.*").expect("scopes") };
        assert_eq!(may(&client, Action::Administer, Target::System), Decision::Deny(DenyReason::Scope));
    }

    #[test]
    fn searches_of_clinicians_stay_on_their_units() {
        assert_eq!(
            visibility(&user(Role::Clinician, &["ICU"])),
            Visibility::Units { units: vec!["ICU".into()], user_id: 1 }
        );
        assert_eq!(visibility(&user(Role::Informatics, &["ICU"])), Visibility::All);
    }

    #[test]
    fn aggregates_are_for_planners_not_for_unscoped_systems() {
        let target = Target::Aggregate { resource_type: "RiskAssessment" };
        for role in [Role::Clinician, Role::Informatics, Role::Admin] {
            assert_eq!(may(&user(role, &[]), Action::Read, target), Decision::Allow);
        }
        assert_eq!(may(&user(Role::Integration, &[]), Action::Read, target), Decision::Deny(DenyReason::Role));
        let client = |s: &str| Principal::Client { client_id: "c".into(), scopes: Scopes::parse(s).expect("scopes") };
        assert_eq!(may(&client("system/RiskAssessment.read"), Action::Read, target), Decision::Allow);
        assert_eq!(may(&client("system/Patient.read"), Action::Read, target), Decision::Deny(DenyReason::Scope));
    }

    #[test]
    fn admins_review_but_do_not_read_records() {
        let admin = user(Role::Admin, &[]);
        assert_eq!(may(&admin, Action::ReviewAccess, Target::System), Decision::Allow);
        assert_eq!(may(&admin, Action::Read, patient(&[], true)), Decision::Deny(DenyReason::Role));
        assert_eq!(may(&admin, Action::BreakGlass, patient(&[], false)), Decision::Deny(DenyReason::Role));
    }

    #[test]
    fn write_permissions_as_scopes() {
        let client = |s: &str| Principal::Client { client_id: "c".into(), scopes: Scopes::parse(s).expect("scopes") };
        let shown = |p: &Principal| write_scopes(p).map(|s| s.to_string());
        assert_eq!(
            shown(&client("system/Patient.read system/Observation.*")).as_deref(),
            Some("system/Observation.write")
        );
        assert_eq!(shown(&client("system/*.read")), None);
        assert_eq!(shown(&user(Role::Integration, &[])).as_deref(), Some("system/*.write"));
        for role in [Role::Clinician, Role::Informatics, Role::Admin] {
            assert_eq!(shown(&user(role, &[])), None);
        }
    }

    #[test]
    fn clients_are_bound_by_their_scopes() {
        let client = |s: &str| Principal::Client { client_id: "c".into(), scopes: Scopes::parse(s).expect("scopes") };
        let target = |t| Target::Patient { resource_type: t, units: &[], break_glass: false };
        assert_eq!(may(&client("system/Patient.read"), Action::Read, target("Patient")), Decision::Allow);
        assert_eq!(
            may(&client("system/Patient.read"), Action::Read, target("Observation")),
            Decision::Deny(DenyReason::Scope)
        );
        assert_eq!(
            may(&client("system/Patient.read"), Action::Write, target("Patient")),
            Decision::Deny(DenyReason::Scope)
        );
        assert_eq!(may(&client("system/*.read"), Action::Read, target("Observation")), Decision::Allow);
        assert_eq!(may(&client("system/*.*"), Action::Write, target("Encounter")), Decision::Allow);
        assert_eq!(
            may(&client("system/*.read"), Action::ReviewAccess, Target::System),
            Decision::Deny(DenyReason::Scope)
        );
    }
}
