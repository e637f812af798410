//! What ingestion reports: counts per resource type, the fate of each incoming resource, and
//! its error.

use std::collections::BTreeMap;

use serde_json::Value;

/// Counts per resource type.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub stored: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub outdated: u64,
    pub rejected: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.stored + self.updated + self.unchanged + self.outdated + self.rejected
    }

    fn add(&mut self, other: &Counts) {
        self.stored += other.stored;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
        self.outdated += other.outdated;
        self.rejected += other.rejected;
    }
}

/// What a load did, per resource type (`(unreadable)` for input that was not a resource).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub by_type: BTreeMap<String, Counts>,
}

impl Summary {
    pub fn merge(&mut self, other: &Summary) {
        for (ty, counts) in &other.by_type {
            self.by_type.entry(ty.clone()).or_default().add(counts);
        }
    }

    pub fn totals(&self) -> Counts {
        let mut all = Counts::default();
        self.by_type.values().for_each(|c| all.add(c));
        all
    }

    pub(super) fn count(&mut self, resource_type: &str) -> &mut Counts {
        self.by_type.entry(resource_type.to_owned()).or_default()
    }
}

/// What became of one incoming resource.
#[derive(Debug, Clone, PartialEq)]
pub enum Fate {
    /// Valid: stored as `version` (or found already stored as `version`, when unchanged).
    Accepted { resource_type: String, id: String, change: Change, version: i32 },
    /// Invalid: kept in the reject list with this OperationOutcome.
    Rejected { outcome: Value },
}

/// How a valid resource changed the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Updated,
    Unchanged,
    /// Older than the current version: kept in history only.
    Outdated,
}

/// A stored batch: the counts per type, and the fate of each resource in input order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stored {
    pub summary: Summary,
    pub fates: Vec<Fate>,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("database error while storing a batch: {0}")]
    Database(#[from] diesel::result::Error),
}
