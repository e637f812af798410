//! `vigil outbox list|show|retry`: the email messages, their attempts and dead letters.

use std::process::ExitCode;

use clap::Subcommand;
use diesel::PgConnection;

use super::audit_cli;
use crate::alerts::outbox::{self, MessageRow};

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// The newest messages: recipient, status, attempts, next attempt, last error
    List {
        /// Only messages in this state: pending, sent or dead
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// One message and the alerts it tells of
    Show { id: i64 },
    /// Send a dead letter again, with a fresh budget of attempts
    Retry { id: i64 },
}

#[allow(clippy::print_stdout)] // the command's output for its user
fn print(m: &MessageRow) {
    println!(
        "{:>6}  {:<7}  {:<32}  attempts {:>2}  created {}  {}{}",
        m.id,
        m.status,
        m.recipient,
        m.attempts,
        m.created_at.format("%Y-%m-%d %H:%M:%S"),
        match (&m.sent_at, m.status.as_str()) {
            (Some(at), _) => format!("sent {}", at.format("%Y-%m-%d %H:%M:%S")),
            (None, "pending") => format!("next attempt {}", m.next_attempt_at.format("%Y-%m-%d %H:%M:%S")),
            _ => String::new(),
        },
        m.last_error.as_deref().map(|e| format!("  last error: {e}")).unwrap_or_default()
    );
}

#[allow(clippy::print_stdout)] // the command's output for its user
pub fn run(conn: &mut PgConnection, command: OutboxCommand) -> anyhow::Result<ExitCode> {
    match command {
        OutboxCommand::List { status, limit } => {
            if let Some(s) = status.as_deref() {
                anyhow::ensure!(
                    matches!(s, "pending" | "sent" | "dead"),
                    "--status {s:?}: expected pending, sent or dead"
                );
            }
            for message in outbox::list(conn, status.as_deref(), limit.clamp(1, 10_000))? {
                print(&message);
            }
        }
        OutboxCommand::Show { id } => {
            let message = outbox::show(conn, id)?.ok_or_else(|| anyhow::anyhow!("no outbox message {id}"))?;
            print(&message);
            for n in outbox::notices(conn, id)? {
                let about = match (&n.alert_id, &n.model) {
                    (Some(alert), _) => format!("alert {alert:>6}"),
                    (None, model) => format!("model {}", model.as_deref().unwrap_or("-")),
                };
                println!(
                    "        {about:<12}  {:<11}  {:<8}  {:<11}  {}",
                    n.kind,
                    n.tier,
                    n.target,
                    n.unit.as_deref().unwrap_or("no unit")
                );
            }
        }
        OutboxCommand::Retry { id } => {
            anyhow::ensure!(outbox::retry(conn, id)?, "outbox message {id} is not a dead letter");
            audit_cli(conn, "outbox-retry", "OutboxMessage", Some(&id.to_string()), None)?;
            println!("message {id} will be sent again");
        }
    }
    Ok(ExitCode::SUCCESS)
}
