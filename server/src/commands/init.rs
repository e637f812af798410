//! `vigil init`: everything a local installation needs before it can serve: a self-signed TLS
//! certificate, a token-signing key, the audit anchors' key and folder, and a configuration file
//! naming them.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;

use crate::auth::keys;

#[allow(clippy::print_stdout)] // the command's output for its user
pub fn run(dir: &Path, force: bool) -> anyhow::Result<ExitCode> {
    let config = dir.join("vigil.toml");
    if config.exists() && !force {
        println!("{} exists; leaving it as it is (--force writes a new one)", config.display());
        return Ok(ExitCode::SUCCESS);
    }
    std::fs::create_dir_all(dir.join("tls")).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::create_dir_all(dir.join("keys"))?;
    let dir = std::fs::canonicalize(dir)?;

    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()];
    let certified = rcgen::generate_simple_self_signed(names).context("generating the TLS certificate")?;
    let (cert, key) = (dir.join("tls/cert.pem"), dir.join("tls/key.pem"));
    write_private(&cert, &certified.cert.pem())?;
    write_private(&key, &certified.signing_key.serialize_pem())?;

    let kid = format!("vigil-{}", chrono::Utc::now().format("%Y%m%d%H%M%S"));
    let signing = dir.join(format!("keys/{kid}.pem"));
    write_private(&signing, &keys::generate_pem().context("generating the signing key")?)?;
    // The audit anchors' key and folder stay out of the database; in production the folder is
    // storage that refuses rewrites.
    let anchor_key = dir.join("keys/audit-anchor.pem");
    write_private(&anchor_key, &keys::generate_pem().context("generating the anchor key")?)?;
    let anchors = dir.join("anchors");
    std::fs::create_dir_all(&anchors)?;

    // Without an SMTP server, email is written here for whoever wants to read it.
    let mail = dir.join("mail");
    // Audit rows wait here while the primary database is out of reach (reads from a replica).
    let spool = dir.join("audit-spool");

    let toml = format!(
        "# Written by `vigil init`. Settings not named here take their defaults (see README).\n\
         [server]\nport = 8443\npublic_url = \"https://127.0.0.1:8443\"\n\
         tls_cert_file = {cert:?}\ntls_key_file = {key:?}\n\n\
         [[auth.signing_keys]]\nkid = {kid:?}\nfile = {signing:?}\nstate = \"current\"\n\n\
         [audit]\nanchor_dir = {anchors:?}\nanchor_key_file = {anchor_key:?}\nspool_dir = {spool:?}\n\n\
         [email]\nmail_dir = {mail:?}\n"
    );
    write_private(&config, &toml)?;
    println!("wrote {} (TLS certificate for localhost, signing key {kid})", config.display());
    Ok(ExitCode::SUCCESS)
}

/// Writes a file readable by its owner only: keys must not be world-readable.
fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}
