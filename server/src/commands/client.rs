use std::process::ExitCode;

use anyhow::Context;
use diesel::prelude::*;

use super::audit_cli;
use crate::auth::clients;
use crate::auth::principal::Scopes;
use crate::cli::ClientCommand;

#[allow(clippy::print_stdout)] // the command's output for its user
pub fn run(conn: &mut PgConnection, command: ClientCommand) -> anyhow::Result<ExitCode> {
    match command {
        ClientCommand::Add { name, jwks, scopes, cds_issuer } => {
            let raw = std::fs::read_to_string(&jwks).with_context(|| format!("reading {}", jwks.display()))?;
            let jwks = clients::validate_jwks(&raw)?;
            let scopes = Scopes::parse(&scopes).map_err(|e| anyhow::anyhow!("--scopes: {e}"))?;
            let issuer = cds_issuer.as_deref().map(str::trim);
            if let Some(issuer) = issuer {
                anyhow::ensure!((1..=255).contains(&issuer.len()), "--cds-issuer must be 1 to 255 characters");
            }
            let client_id = conn.transaction(|conn| -> anyhow::Result<String> {
                let client_id = clients::register(conn, name.trim(), &jwks, &scopes)?;
                if let Some(issuer) = issuer {
                    clients::set_cds_issuer(conn, &client_id, issuer).map_err(|e| match e {
                        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
                            anyhow::anyhow!("another client signs as the CDS issuer {issuer}")
                        }
                        other => other.into(),
                    })?;
                }
                Ok(client_id)
            })?;
            audit_cli(conn, "client-add", "Client", Some(&client_id), None)?;
            println!("{client_id}");
        }
        ClientCommand::List => {
            for c in clients::list(conn)? {
                let status = if c.disabled_at.is_some() { "disabled" } else { "active" };
                println!("{}  {status:<8}  {}  [{}]", c.client_id, c.name, c.scopes);
            }
        }
        ClientCommand::Disable { client_id } => {
            anyhow::ensure!(clients::disable(conn, &client_id)?.is_some(), "no client {client_id}");
            audit_cli(conn, "client-disable", "Client", Some(&client_id), None)?;
            println!("disabled {client_id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
