//! The deployment artifacts hold up: `deploy/compose.yaml` and every Kubernetes manifest in
//! `deploy/k8s/` validate strictly against their schemas (`deploy/validate.sh`), and the
//! configuration the ConfigMap carries is one Vigil itself accepts.

use std::path::Path;
use std::process::Command;

use vigil_store::testing::TestDb;

use crate::support::{run, vigil};

fn deploy() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

#[test]
fn compose_and_the_kubernetes_manifests_validate_strictly() {
    let (status, out, err) = run(&mut Command::new(deploy().join("validate.sh")));
    assert!(status.success(), "{out}{err}");
    for expected in [
        "compose.yaml",
        "Deployment/vigil-serve",
        "Deployment/vigil-worker",
        "Job/vigil-migrate",
        "HorizontalPodAutoscaler/vigil-serve",
        "PodDisruptionBudget/vigil-worker",
        "NetworkPolicy/vigil",
        "Ingress/vigil",
        "Cluster/vigil-db",
        "Pooler/vigil-db-pooler",
        "ScheduledBackup/vigil-db-daily",
    ] {
        assert!(out.lines().any(|l| l.starts_with("ok") && l.contains(expected)), "{expected} validated: {out}");
    }
}

#[test]
fn the_configmaps_settings_are_ones_vigil_accepts() {
    let manifest = std::fs::read_to_string(deploy().join("k8s/config.yaml")).expect("config.yaml");
    let start = manifest.find("vigil.toml: |\n").expect("the vigil.toml key") + "vigil.toml: |\n".len();
    let toml: String = manifest[start..]
        .lines()
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect();
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("vigil.toml");
    std::fs::write(&file, &toml).expect("write");
    let db = TestDb::migrated();
    // Loading the settings is all migrate --status needs of them: an unknown or mistyped key fails.
    let (status, out, err) =
        run(vigil().arg("--config").arg(&file).args(["migrate", "--status"]).env("DATABASE_URL", db.url()));
    assert!(status.success(), "{toml}\n{out}{err}");
}
