use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use diesel::PgConnection;
use vigil_store::audit::{self, AuditEvent, Outcome, Verification};

use super::cli_actor;
use crate::cli::AuditCommand;

const EXPORT_PAGE: i64 = 5_000;

#[allow(clippy::print_stdout)] // the command's output for its user
pub fn run(conn: &mut PgConnection, command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::Verify { anchor } => match audit::verify(conn)? {
            Verification::Intact { rows, head } => {
                for a in &anchor {
                    let (seq, hash) =
                        a.split_once(':').ok_or_else(|| anyhow::anyhow!("--anchor takes SEQ:HASH, not {a}"))?;
                    let seq: i64 =
                        seq.parse().map_err(|_| anyhow::anyhow!("--anchor: {seq} is not a sequence number"))?;
                    if audit::hash_of(conn, seq)?.map(hex::encode).as_deref() != Some(hash) {
                        println!(
                            "audit trail broken: row {seq} no longer has the hash recorded for it (the chain was rewritten or cut short)"
                        );
                        return Ok(ExitCode::from(1));
                    }
                }
                println!("audit trail intact: {rows} rows");
                if let Some((seq, hash)) = head {
                    println!("head {seq}:{}", hex::encode(hash));
                }
                Ok(ExitCode::SUCCESS)
            }
            Verification::Broken { seq, problem } => {
                println!("audit trail broken at row {seq}: {problem}");
                Ok(ExitCode::from(1))
            }
        },
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

fn export(
    conn: &mut PgConnection,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
    sink: Box<dyn Write>,
) -> anyhow::Result<u64> {
    let mut csv = csv::Writer::from_writer(sink);
    csv.write_record([
        "seq",
        "time_utc",
        "actor",
        "role",
        "action",
        "resource_type",
        "resource_id",
        "patient_id",
        "data_category",
        "outcome",
        "source_address",
        "request_id",
        "break_glass",
        "detail",
        "hash",
    ])?;
    let (mut after, mut rows) = (0, 0_u64);
    loop {
        let page = audit::page(conn, from, to, after, EXPORT_PAGE)?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        for r in page {
            csv.write_record([
                r.seq.to_string(),
                r.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                r.actor,
                r.actor_role,
                r.action,
                r.resource_type.unwrap_or_default(),
                r.resource_id.unwrap_or_default(),
                r.patient_id.map(|p| p.to_string()).unwrap_or_default(),
                r.data_category.unwrap_or_default(),
                r.outcome,
                r.source_address.unwrap_or_default(),
                r.request_id.unwrap_or_default(),
                r.break_glass.to_string(),
                r.detail.unwrap_or_default(),
                hex::encode(&r.hash),
            ])?;
            rows += 1;
        }
    }
    csv.flush()?;
    Ok(rows)
}
