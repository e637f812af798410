//! The holes the sealer leaves in the sequence: numbers below the newest seal whose rows were not
//! visible when it passed (a transaction still in flight, or one that rolled back), kept as ranges
//! in `audit_seal_gaps` so that later passes look for late rows there only. Pure: the sealer
//! ([`super::chain::seal`]) reads and writes the table.

use chrono::{DateTime, Utc};

/// Sequence numbers `first..=last` not sealed, noticed at `noticed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub first: i64,
    pub last: i64,
    pub noticed: DateTime<Utc>,
}

/// The holes among `found` (ascending) in `after+1 ..= found's last`: what a pass over the rows
/// after the newest seal leaves behind.
pub fn holes_after(after: i64, found: &[i64], noticed: DateTime<Utc>) -> Vec<Gap> {
    let mut holes = Vec::new();
    let mut expected = after + 1;
    for &seq in found {
        if seq > expected {
            holes.push(Gap { first: expected, last: seq - 1, noticed });
        }
        expected = expected.max(seq + 1);
    }
    holes
}

/// What is left of `gaps` once the rows `sealed` (ascending) are sealed: each gap split around the
/// rows found in it, keeping when it was noticed.
pub fn remaining(gaps: &[Gap], sealed: &[i64]) -> Vec<Gap> {
    let mut left = Vec::new();
    for gap in gaps {
        let inside = sealed.iter().filter(|&&seq| seq >= gap.first && seq <= gap.last).copied();
        let mut next = gap.first;
        for seq in inside {
            if seq > next {
                left.push(Gap { first: next, last: seq - 1, ..*gap });
            }
            next = next.max(seq + 1);
        }
        if next <= gap.last {
            left.push(Gap { first: next, ..*gap });
        }
    }
    left
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).expect("time")
    }

    fn ranges(gaps: &[Gap]) -> Vec<(i64, i64)> {
        gaps.iter().map(|g| (g.first, g.last)).collect()
    }

    #[test]
    fn a_pass_leaves_the_numbers_it_did_not_see_as_ranges() {
        assert_eq!(ranges(&holes_after(10, &[11, 12, 13], at())), vec![]);
        assert_eq!(ranges(&holes_after(10, &[12, 13, 17, 18, 20], at())), vec![(11, 11), (14, 16), (19, 19)]);
        assert_eq!(ranges(&holes_after(10, &[], at())), vec![]);
    }

    #[test]
    fn rows_found_late_split_their_gap_and_a_filled_gap_is_gone() {
        let gaps = [Gap { first: 5, last: 9, noticed: at() }, Gap { first: 20, last: 20, noticed: at() }];
        assert_eq!(ranges(&remaining(&gaps, &[])), vec![(5, 9), (20, 20)]);
        assert_eq!(ranges(&remaining(&gaps, &[5, 7, 20])), vec![(6, 6), (8, 9)]);
        assert_eq!(ranges(&remaining(&gaps, &[5, 6, 7, 8, 9])), vec![(20, 20)]);
        assert!(remaining(&gaps, &[5, 6, 7, 8, 9, 20]).iter().all(|g| g.noticed == at()));
    }
}
