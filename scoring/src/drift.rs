//! Drift: how far the scored population has moved from the one a model was trained on, as the
//! population stability index (PSI) of each feature and of the predictions. A model keeps its
//! training window's distributions as a [`Reference`] (deciles, stored with its report); monitoring
//! counts a week's values into the same bins.
//!
//! PSI = Σ (actual − expected) · ln(actual / expected) over the bins. PRODUCT.md reads it as
//! below 0.1 stable, 0.1 to 0.25 moderate, above 0.25 significant.

use serde::{Deserialize, Serialize};

/// Below this, a population is stable.
pub const MODERATE: f64 = 0.1;
/// Above this, drift is significant.
pub const SIGNIFICANT: f64 = 0.25;
/// Fewer values than this leave most of ten bins near empty, and PSI then measures the sample's
/// smallness, not drift: a week with fewer scores gets no PSI.
pub const MIN_VALUES: usize = 100;
/// Empty bins count as this share, so that the logarithm stays finite.
const FLOOR: f64 = 1e-4;

/// Bins of one variable: interior cut points (a value equal to a cut falls below it) and the
/// share of the reference population in each of the `cuts.len() + 1` bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bins {
    pub cuts: Vec<f64>,
    pub shares: Vec<f64>,
}

impl Bins {
    /// Decile bins of `values` (fewer where values repeat: a flag has two).
    pub fn of(values: &[f64]) -> Self {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
        sorted.sort_by(f64::total_cmp);
        let mut cuts: Vec<f64> = Vec::new();
        for d in 1..10 {
            let Some(&cut) = sorted.get(d * sorted.len() / 10) else { break };
            // A cut at the maximum would leave its bin above empty by construction.
            if cuts.last() != Some(&cut) && sorted.last() != Some(&cut) {
                cuts.push(cut);
            }
        }
        let mut bins = Self { shares: vec![0.0; cuts.len() + 1], cuts };
        let counts = bins.count(values.iter().copied());
        bins.shares = shares(&counts);
        bins
    }

    pub fn bin(&self, value: f64) -> usize {
        self.cuts.partition_point(|cut| *cut < value)
    }

    /// How many of `values` fall in each bin.
    pub fn count(&self, values: impl IntoIterator<Item = f64>) -> Vec<u64> {
        let mut counts = vec![0; self.cuts.len() + 1];
        for v in values {
            counts[self.bin(v)] += 1;
        }
        counts
    }

    /// The PSI of a population counted into these bins against the reference; None when the
    /// population is empty.
    pub fn psi(&self, counts: &[u64]) -> Option<f64> {
        if counts.iter().sum::<u64>() == 0 || counts.len() != self.shares.len() {
            return None;
        }
        let actual = shares(counts);
        Some(
            self.shares
                .iter()
                .zip(&actual)
                .map(|(e, a)| {
                    let (e, a) = (e.max(FLOOR), a.max(FLOOR));
                    (a - e) * (a / e).ln()
                })
                .sum(),
        )
    }
}

fn shares(counts: &[u64]) -> Vec<f64> {
    let total = counts.iter().sum::<u64>().max(1) as f64;
    counts.iter().map(|c| *c as f64 / total).collect()
}

/// A model's training window as drift is measured against: each feature's bins, by name, and
/// the predictions' bins.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub features: Vec<(String, Bins)>,
    pub prediction: Bins,
}

impl Reference {
    /// From the training rows (features in the order of `names`) and the model's probabilities
    /// of them.
    pub fn of(names: &[&str], rows: &[Vec<f64>], probabilities: &[f64]) -> Self {
        let features = names
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let column: Vec<f64> = rows.iter().filter_map(|r| r.get(i).copied()).collect();
                ((*name).to_owned(), Bins::of(&column))
            })
            .collect();
        Self { features, prediction: Bins::of(probabilities) }
    }
}

/// How a PSI reads.
pub fn level(psi: f64) -> &'static str {
    if psi > SIGNIFICANT {
        "significant"
    } else if psi >= MODERATE {
        "moderate"
    } else {
        "stable"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uniform(n: usize, shift: f64) -> Vec<f64> {
        (0..n).map(|i| i as f64 / n as f64 + shift).collect()
    }

    #[test]
    fn the_same_population_is_stable_and_a_shifted_one_is_not() {
        let reference = Bins::of(&uniform(1000, 0.0));
        assert_eq!(reference.shares.len(), 10);
        let same = reference.psi(&reference.count(uniform(500, 0.0))).expect("psi");
        assert!(same < 0.01, "{same}");
        let moved = reference.psi(&reference.count(uniform(500, 0.07))).expect("psi");
        assert_eq!(level(moved), "moderate", "{moved}");
        let far = reference.psi(&reference.count(uniform(500, 0.5))).expect("psi");
        assert_eq!(level(far), "significant", "{far}");
        assert_eq!(reference.psi(&reference.count([])), None);
    }

    #[test]
    fn a_flag_has_two_bins_and_its_share_moving_is_drift() {
        let flags: Vec<f64> = (0..100).map(|i| if i < 20 { 1.0 } else { 0.0 }).collect();
        let bins = Bins::of(&flags);
        assert_eq!(bins.cuts, vec![0.0]);
        assert_eq!(bins.shares, vec![0.8, 0.2]);
        let more: Vec<f64> = (0..100).map(|i| if i < 50 { 1.0 } else { 0.0 }).collect();
        let psi = bins.psi(&bins.count(more)).expect("psi");
        assert!(psi > SIGNIFICANT, "20 % to 50 % flagged: {psi}");
    }
}
