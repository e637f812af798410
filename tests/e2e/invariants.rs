//! The workspace's layering, as ARCHITECTURE.md states it, checked on Cargo's own resolution of
//! normal (non-dev) dependencies for this platform, transitively:
//! - `vigil-store` depends on no crate of ours;
//! - `vigil-ehr-adapter` and `vigil-scoring` depend on `vigil-store` and never on each other, nor
//!   on actix-web, askama or lettre (they hold no HTTP, templates or email).

use std::collections::BTreeSet;

use crate::support::run;

/// Names of every package `name` depends on, directly or not, through normal dependencies.
fn closure(name: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml");
    let (status, out, err) = run(std::process::Command::new(cargo).args([
        "tree",
        "--offline",
        "--locked",
        "--edges=normal",
        "--prefix=none",
        "--format={p}",
        "--manifest-path",
        manifest,
        "--package",
        name,
    ]));
    assert!(status.success(), "cargo tree: {err}");
    out.lines().skip(1).filter_map(|line| line.split_whitespace().next()).map(str::to_owned).collect()
}

const OURS: [&str; 4] = ["vigil-store", "vigil-ehr-adapter", "vigil-scoring", "vigil"];
const NOT_IN_DOMAIN_CRATES: [&str; 3] = ["actix-web", "askama", "lettre"];

#[test]
fn store_depends_on_no_crate_of_ours() {
    let deps = closure("vigil-store");
    assert!(deps.contains("diesel"), "the dependency listing works: {deps:?}");
    let ours: Vec<_> = OURS.iter().filter(|c| deps.contains(**c)).collect();
    assert!(ours.is_empty(), "vigil-store depends on {ours:?}");
}

#[test]
fn adapter_and_scoring_stand_apart() {
    for (krate, other) in [("vigil-ehr-adapter", "vigil-scoring"), ("vigil-scoring", "vigil-ehr-adapter")] {
        let deps = closure(krate);
        assert!(deps.contains("vigil-store"), "{krate} reaches the database through vigil-store");
        assert!(!deps.contains(other), "{krate} must not depend on {other}");
        assert!(!deps.contains("vigil"), "{krate} must not depend on the server");
        for banned in NOT_IN_DOMAIN_CRATES {
            assert!(!deps.contains(banned), "{krate} must not depend on {banned}");
        }
    }
}

#[test]
fn the_server_is_what_ties_them_together() {
    let deps = closure("vigil");
    for krate in ["vigil-store", "vigil-ehr-adapter", "vigil-scoring", "actix-web"] {
        assert!(deps.contains(krate), "vigil depends on {krate}");
    }
}
