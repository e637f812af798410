//! Resources read by id, remembered with what access control decides on (their patient and the
//! patient's units) until Postgres says either changed (the `resource_read_wake` migration's
//! triggers notify `vigil_reads`; see [`crate::remembered`]). Clinicians and EHR clients read the
//! same patients' records over and over: each read is still decided by `may` and audited before its
//! data is sent, but without a query of its own.
//!
//! Only what does not depend on who asks is remembered. A break-glass grant does: a read that only a
//! grant allows always asks the database, so a grant's expiry (which nothing notifies of) takes
//! effect at once. With a read replica nothing is remembered: a notification from the primary may
//! arrive before the replica has the change, and a read from the replica would then remember the
//! old version as current.

use std::sync::Arc;

use vigil_store::wake::Channel;

use super::lookup::StoredVersion;
use crate::remembered::Remembered;

/// Most reads remembered: a hospital's current inpatients' records several times over, at a few
/// KiB each.
const REMEMBERED: usize = 8_192;

/// A read by id: the type, the id and the version asked for (None: the current one).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReadKey {
    pub resource_type: &'static str,
    pub fhir_id: String,
    pub number: Option<i32>,
}

/// What a read found: the patient the resource belongs to, their units, and the version.
#[derive(Debug)]
pub struct Read {
    pub patient: i64,
    pub units: Vec<String>,
    pub version: StoredVersion,
}

pub type ResourceReads = Remembered<ReadKey, Arc<Read>>;

impl Default for ResourceReads {
    fn default() -> Self {
        Remembered::new(Channel::Reads, REMEMBERED)
    }
}
