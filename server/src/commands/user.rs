use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

use anyhow::Context;
use diesel::PgConnection;
use secrecy::SecretString;

use super::audit_cli;
use crate::auth::email::Email;
use crate::auth::password::NewPassword;
use crate::auth::users::{self, NewUser, UnitCode, Username};
use crate::cli::UserCommand;

#[allow(clippy::print_stdout)] // the command's output for its user
pub fn run(conn: &mut PgConnection, command: UserCommand) -> anyhow::Result<ExitCode> {
    match command {
        UserCommand::Add { username, name, role, units, password_stdin, email } => {
            let username = Username::parse(&username)?;
            let email = email.as_deref().map(Email::parse).transpose()?;
            let units = units.iter().map(|u| UnitCode::parse(u)).collect::<Result<Vec<_>, _>>()?;
            let hash = read_password(password_stdin)?.hash()?;
            let display_name = name.unwrap_or_else(|| username.as_str().to_owned());
            users::add(
                conn,
                &NewUser {
                    username: &username,
                    display_name: &display_name,
                    role,
                    password_hash: &hash,
                    units: &units,
                    email: email.as_ref(),
                },
            )?;
            audit_cli(conn, "user-add", "User", Some(username.as_str()), None)?;
            println!("added {} ({role})", username.as_str());
        }
        UserCommand::SetEmail { username, email } => {
            let username = Username::parse(&username)?;
            let email = if email == "none" { None } else { Some(Email::parse(&email)?) };
            users::set_email(conn, &username, email.as_ref())?;
            audit_cli(conn, "user-set-email", "User", Some(username.as_str()), None)?;
            println!("{}: notices go to {}", username.as_str(), email.as_ref().map_or("nobody", Email::as_str));
        }
        UserCommand::List => {
            println!("{:<24} {:<12} {:<10} units", "username", "role", "status");
            for user in users::list(conn)? {
                let status = if user.disabled { "disabled" } else { "active" };
                println!("{:<24} {:<12} {:<10} {}", user.username, user.role, status, user.units.join(","));
            }
        }
        UserCommand::Disable { username } => {
            let username = Username::parse(&username)?;
            users::disable(conn, &username)?;
            audit_cli(conn, "user-disable", "User", Some(username.as_str()), None)?;
            println!("disabled {}; their sessions have ended", username.as_str());
        }
        UserCommand::ResetMfa { username } => {
            let username = Username::parse(&username)?;
            users::reset_mfa(conn, &username)?;
            audit_cli(conn, "user-reset-mfa", "User", Some(username.as_str()), None)?;
            println!("second factor removed for {}; their sessions have ended", username.as_str());
        }
        UserCommand::SetPassword { username, password_stdin } => {
            let username = Username::parse(&username)?;
            let hash = read_password(password_stdin)?.hash()?;
            users::set_password(conn, &username, &hash)?;
            audit_cli(conn, "user-set-password", "User", Some(username.as_str()), None)?;
            println!(
                "password set for {}; its sign-in back-off is cleared and its sessions have ended",
                username.as_str()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn read_password(from_stdin: bool) -> anyhow::Result<NewPassword> {
    let raw = if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).context("reading the password from standard input")?;
        line.trim_end_matches(['\r', '\n']).to_owned()
    } else if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(first == again, "the two passwords differ");
        first
    } else {
        anyhow::bail!("no terminal to ask for the password on: pass --password-stdin and pipe it in");
    };
    Ok(NewPassword::parse(SecretString::from(raw))?)
}
