use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use diesel::PgConnection;
use vigil_store::audit::{self, AuditEvent, Outcome, Verification};

use super::cli_actor;
use crate::cli::AuditCommand;
use crate::config::AuditSettings;
use crate::sealer::Anchoring;
use crate::{anchor, audit_csv};

const EXPORT_PAGE: i64 = 5_000;

#[allow(clippy::print_stdout)] // the command's output for its user
pub fn run(conn: &mut PgConnection, settings: &AuditSettings, command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify { anchor } => verify(conn, settings, &anchor),
        AuditCommand::Seal => {
            println!("sealed {} rows", audit::chain::seal_all(conn)?);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Anchor => {
            let anchoring = Anchoring::from_settings(settings)?
                .context("anchoring is not configured: set audit.anchor_dir and audit.anchor_key_file")?;
            match anchor::anchor(conn, &anchoring.key, &anchoring.dir)? {
                Some(file) => println!("wrote {}", file.display()),
                None => println!("the head is anchored already (or the chain is empty)"),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export { from, to, out } => {
            anyhow::ensure!(from < to, "--from must be before --to");
            // Exporting the trail reads which patients were seen by whom: it is audited too.
            let event = AuditEvent {
                resource_type: Some("AuditLog".into()),
                data_category: Some("audit".into()),
                detail: Some(format!("{} to {}", from.to_rfc3339(), to.to_rfc3339())),
                ..AuditEvent::new(cli_actor(), "operator", "audit-export", Outcome::Success)
            };
            audit::append(conn, &event)?;
            let sink: Box<dyn Write> = match &out {
                Some(path) => {
                    Box::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?)
                }
                None => Box::new(std::io::stdout().lock()),
            };
            let rows = export(conn, from, to, sink)?;
            if let Some(path) = out {
                println!("wrote {rows} rows to {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[allow(clippy::print_stdout)] // the command's output for its user
fn verify(conn: &mut PgConnection, settings: &AuditSettings, manual: &[String]) -> anyhow::Result<ExitCode> {
    audit::chain::seal_all(conn)?;
    let (sealed, head, unsealed) = match audit::verify(conn)? {
        Verification::Intact { sealed, head, unsealed } => (sealed, head, unsealed),
        Verification::Broken { position, seq, problem } => {
            println!("audit trail broken at row {seq} (chain position {position}): {problem}");
            return Ok(ExitCode::from(1));
        }
    };
    let mut broken = false;
    for a in manual {
        let (position, hash) =
            a.split_once(':').ok_or_else(|| anyhow::anyhow!("--anchor takes POSITION:HASH, not {a}"))?;
        let position: i64 = position.parse().map_err(|_| anyhow::anyhow!("--anchor: {position} is not a position"))?;
        if audit::chain::hash_at(conn, position)?.map(hex::encode).as_deref() != Some(hash) {
            println!(
                "audit trail broken: position {position} no longer has the hash recorded for it (the chain was rewritten or cut short)"
            );
            broken = true;
        }
    }
    match Anchoring::from_settings(settings)? {
        Some(anchoring) => {
            let (checked, problems) = anchor::check_all(conn, &anchoring.key, &anchoring.dir)?;
            for (file, problem) in &problems {
                println!("anchor {} does not hold: {problem}", file.display());
            }
            broken |= !problems.is_empty();
            println!("{checked} anchors checked in {}, {} hold", anchoring.dir.display(), checked - problems.len());
        }
        None => println!("no anchors configured (audit.anchor_dir): only the chain itself was checked"),
    }
    if broken {
        return Ok(ExitCode::from(1));
    }
    println!("audit trail intact: {sealed} rows sealed");
    if let Some(head) = head {
        println!("head {}:{}", head.position, hex::encode(head.hash));
    }
    if unsealed.rows > 0 {
        let oldest = unsealed.oldest.map(|t| t.to_rfc3339()).unwrap_or_default();
        println!("{} rows written but not sealed yet (in flight; the oldest written {oldest})", unsealed.rows);
    }
    Ok(ExitCode::SUCCESS)
}

fn export(
    conn: &mut PgConnection,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
    sink: Box<dyn Write>,
) -> anyhow::Result<u64> {
    let mut csv = csv::Writer::from_writer(sink);
    csv.write_record(audit_csv::HEADER)?;
    let (mut after, mut rows) = (0, 0_u64);
    loop {
        let page = audit::search::period(conn, from, to, after, EXPORT_PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for r in &page {
            audit_csv::write_row(&mut csv, r)?;
            rows += 1;
        }
    }
    csv.flush()?;
    Ok(rows)
}
