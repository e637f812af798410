use std::process::ExitCode;

use anyhow::Context;
use diesel::prelude::*;
use vigil_store::schema::api_clients;

use super::audit_cli;
use crate::auth::clients;
use crate::auth::principal::Scopes;
use crate::cli::ClientCommand;

#[allow(clippy::print_stdout)] // the command's output for its user
pub fn run(conn: &mut PgConnection, command: ClientCommand) -> anyhow::Result<ExitCode> {
    match command {
        ClientCommand::Add { name, jwks, scopes } => {
            let raw = std::fs::read_to_string(&jwks).with_context(|| format!("reading {}", jwks.display()))?;
            let jwks = clients::validate_jwks(&raw)?;
            let scopes = Scopes::parse(&scopes).map_err(|e| anyhow::anyhow!("--scopes: {e}"))?;
            let client_id = clients::register(conn, name.trim(), &jwks, &scopes)?;
            audit_cli(conn, "client-add", "Client", Some(&client_id), None)?;
            println!("{client_id}");
        }
        ClientCommand::List => {
            let rows: Vec<(String, String, String, Option<chrono::DateTime<chrono::Utc>>)> = api_clients::table
                .select((api_clients::client_id, api_clients::name, api_clients::scopes, api_clients::disabled_at))
                .order(api_clients::created_at)
                .load(conn)?;
            for (id, name, scopes, disabled) in rows {
                let status = if disabled.is_some() { "disabled" } else { "active" };
                println!("{id}  {status:<8}  {name}  [{scopes}]");
            }
        }
        ClientCommand::Disable { client_id } => {
            let updated = diesel::update(api_clients::table.filter(api_clients::client_id.eq(&client_id)))
                .set(api_clients::disabled_at.eq(diesel::dsl::now))
                .execute(conn)?;
            anyhow::ensure!(updated == 1, "no client {client_id}");
            audit_cli(conn, "client-disable", "Client", Some(&client_id), None)?;
            println!("disabled {client_id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
