use std::process::ExitCode;
use std::time::Duration;

use diesel::{Connection, PgConnection};

use super::audit_cli;
use crate::alerts::escalation;
use crate::auth::users::{self, UnitCode, Username};
use crate::cli::UnitCommand;

#[allow(clippy::print_stdout)] // the command's output for its user
pub fn run(conn: &mut PgConnection, command: UnitCommand) -> anyhow::Result<ExitCode> {
    match command {
        UnitCommand::Add { code, name } => {
            let code = UnitCode::parse(&code)?;
            users::add_unit(conn, &code, name.trim())?;
            audit_cli(conn, "unit-add", "CareUnit", Some(code.as_str()), None)?;
            println!("added unit {}", code.as_str());
        }
        UnitCommand::Assign { code, patients } => {
            let code = UnitCode::parse(&code)?;
            // All or none: a mistyped id leaves no half-assigned caseload.
            conn.transaction(|conn| {
                for patient in &patients {
                    let patient_id = users::assign_patient(conn, &code, patient)?;
                    audit_cli(conn, "unit-assign", "Patient", None, Some(patient_id))?;
                }
                anyhow::Ok(())
            })?;
            println!("assigned {} patient(s) to {}", patients.len(), code.as_str());
        }
        UnitCommand::Escalation { code, after, repeat } => {
            let code = UnitCode::parse(&code)?;
            escalation::set_delays(conn, &code, Duration::from_secs(after), Duration::from_secs(repeat))?;
            audit_cli(conn, "unit-escalation", "CareUnit", Some(code.as_str()), None)?;
            println!("{}: escalation after {after} s, then every {repeat} s", code.as_str());
        }
        UnitCommand::Contact { code, username, remove } => {
            let (code, user) = (UnitCode::parse(&code)?, Username::parse(&username)?);
            escalation::set_contact(conn, &code, &user, !remove)?;
            audit_cli(conn, "unit-contact", "CareUnit", Some(code.as_str()), None)?;
            let what = if remove { "is no longer" } else { "is now" };
            println!("{} {what} an escalation contact of {}", user.as_str(), code.as_str());
        }
        UnitCommand::List => {
            for (code, name) in users::list_units(conn)? {
                println!("{code:<16} {name}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
