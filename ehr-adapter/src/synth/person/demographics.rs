//! A synthetic patient's name, race and ethnicity (US OMB categories, in about the shares of the
//! US population).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::pick;

const FAMILY: &[&str] = &[
    "Garcia", "Smith", "Nguyen", "Johnson", "Okafor", "Kowalski", "Haddad", "Lee", "Brown", "Rossi", "Patel", "Moreau",
];
const GIVEN_F: &[&str] = &["Maria", "Linda", "Aisha", "Mei", "Grace", "Olga", "Fatima", "Ruth", "Elena", "June"];
const GIVEN_M: &[&str] = &["James", "Ahmed", "Wei", "Carlos", "Peter", "Kwame", "Ivan", "Samuel", "Luis", "Tom"];
/// (OMB code, display, share) for race and for ethnicity.
const RACE: &[(&str, &str, f64)] = &[
    ("2106-3", "White", 0.60),
    ("2054-5", "Black or African American", 0.14),
    ("2028-9", "Asian", 0.07),
    ("1002-5", "American Indian or Alaska Native", 0.02),
    ("2131-1", "Other Race", 0.17),
];
const ETHNICITY: &[(&str, &str, f64)] =
    &[("2135-2", "Hispanic or Latino", 0.18), ("2186-5", "Not Hispanic or Latino", 0.82)];

/// Who a patient is, beside their age and sex.
pub(super) struct Demographics {
    /// (OMB code, display).
    pub(super) race: (&'static str, &'static str),
    pub(super) ethnicity: (&'static str, &'static str),
    pub(super) given: &'static str,
    pub(super) family: &'static str,
}

impl Demographics {
    /// Draws them in a fixed order, so that a seed makes the same population every time.
    pub(super) fn draw(rng: &mut ChaCha8Rng, female: bool) -> Self {
        let race = weighted(rng, RACE);
        let ethnicity = weighted(rng, ETHNICITY);
        let given = if female { *pick(rng, GIVEN_F) } else { *pick(rng, GIVEN_M) };
        let family = *pick(rng, FAMILY);
        Self { race, ethnicity, given, family }
    }
}

fn weighted<'a>(rng: &mut ChaCha8Rng, items: &'a [(&'a str, &'a str, f64)]) -> (&'a str, &'a str) {
    let mut roll: f64 = rng.random();
    for (code, display, share) in items {
        if roll < *share {
            return (code, display);
        }
        roll -= share;
    }
    let (code, display, _) = items[items.len() - 1];
    (code, display)
}
