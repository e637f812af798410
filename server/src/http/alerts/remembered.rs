//! Alert lists as last read, remembered until Postgres says something they show changed (the
//! `alert_list_wake` migration's triggers notify `vigil_alert_lists`; see
//! [`crate::remembered`]). A ward's nurses open the same worklist over and over between scoring
//! runs: each view is still authorized and audited, but its rows come from memory.
//!
//! A list with a row seen only through a break-glass grant is never remembered: the grant's
//! expiry changes what the caller may see without any write to notify of.

use std::sync::Arc;

use vigil_store::wake::Channel;

use super::view::Row;
use crate::remembered::Remembered;

/// Most lists remembered: every unit's worklist with its common filters, many times over.
const REMEMBERED: usize = 4_096;

/// Everything a list's rows depend on besides the database: who asks (their units, or every unit
/// when `units` is None, and their id for break-glass grants) and what they ask for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ListKey {
    pub units: Option<Vec<String>>,
    pub viewer: i64,
    pub cursor: i64,
    pub unit: Option<String>,
    pub target: Option<String>,
    pub tier: Option<String>,
    pub status: String,
    pub urgency: bool,
    /// Rows to read: a page and one more, which says whether there are more.
    pub page: i64,
    pub offset: i64,
    pub counts: bool,
}

/// What the list functions returned: the rows (one more than a page, when there are more) and the
/// counts per tier.
#[derive(Debug)]
pub struct Read {
    pub rows: Vec<Row>,
    pub counts: Vec<(String, i64)>,
}

impl Read {
    /// Whether it may be remembered: no row is seen only through a break-glass grant.
    pub fn rememberable(&self) -> bool {
        !self.rows.iter().any(|r| r.flagged)
    }
}

pub type AlertLists = Remembered<ListKey, Arc<Read>>;

impl Default for AlertLists {
    fn default() -> Self {
        Remembered::new(Channel::AlertLists, REMEMBERED)
    }
}
