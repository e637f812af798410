//! The command line's administration subcommands: users, units, API clients and the audit trail.

use std::path::PathBuf;

use clap::Subcommand;

use super::parse_time;
use crate::auth::Role;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Add a user with a role and, for clinicians, the care units whose patients they see
    ///
    /// The password is read from standard input with --password-stdin, else asked for on the terminal.
    /// It must have 12 to 128 characters and not be one of the most common passwords.
    Add {
        /// Sign-in name: lowercase letters, digits and . _ @ -
        username: String,
        /// Name shown in the portal (default: the username)
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_enum)]
        role: Role,
        /// A care unit code the user works on; repeat for several
        #[arg(long = "unit", value_name = "CODE")]
        units: Vec<String>,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
        /// Where alert notices are emailed
        #[arg(long)]
        email: Option<String>,
    },
    /// Set the address alert notices are emailed to ("none" removes it)
    SetEmail { username: String, email: String },
    /// List users with their role, units and status
    List,
    /// Disable a user: they cannot sign in, and their sessions end at once
    Disable { username: String },
    /// Set a user's password; unlocks the account and ends its sessions
    SetPassword {
        username: String,
        /// Read the password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
    /// Remove a user's second factor and recovery codes (a lost phone); they enrol again at their
    /// next sign-in if their role requires one. Ends their sessions
    ResetMfa { username: String },
}

#[derive(Debug, Subcommand)]
pub enum UnitCommand {
    /// Add a care unit; CODE is what encounters name as their unit
    Add {
        code: String,
        #[arg(long)]
        name: String,
    },
    /// List care units
    List,
    /// How long a critical alert of the unit may stay unacknowledged before its escalation
    /// contacts are told, and how often again (seconds; default 1800 and 3600)
    Escalation {
        code: String,
        #[arg(long, value_name = "SECONDS")]
        after: u64,
        #[arg(long, value_name = "SECONDS")]
        repeat: u64,
    },
    /// Make a member of the unit one of its escalation contacts (or, with --remove, no longer)
    Contact {
        code: String,
        username: String,
        #[arg(long)]
        remove: bool,
    },
    /// Assign a patient to a care unit explicitly, besides the unit of their current or last encounter
    Assign {
        code: String,
        /// The patient's FHIR logical id; repeat for several (a community team's caseload)
        #[arg(long = "patient", required = true)]
        patients: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a system: its public keys (JWKS) and the scopes it may ask for; prints its client id
    ///
    /// The system then gets access tokens from POST /auth/token with grant_type=client_credentials and
    /// a client assertion (a JWT signed RS384 or ES384 with one of these keys, iss = sub = the client id,
    /// aud = the token URL). Scopes look like system/Patient.read, system/*.read or system/*.*.
    Add {
        #[arg(long)]
        name: String,
        /// A JSON Web Key Set file with the system's public keys (each with a kid)
        #[arg(long, value_name = "FILE")]
        jwks: PathBuf,
        /// Space-separated scopes, for example "system/Patient.read system/Observation.read"
        #[arg(long)]
        scopes: String,
        /// The system is also a CDS Hooks client signing its requests as this issuer (the `iss` of
        /// its JWTs, usually its base URL); it needs system/RiskAssessment.read to get cards
        #[arg(long, value_name = "ISS")]
        cds_issuer: Option<String>,
    },
    /// List registered systems
    List,
    /// Disable a system: its tokens stop working at once
    Disable { client_id: String },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Seal what is unsealed, walk the hash chain, check every anchor, and name the first row that
    /// was altered or removed
    ///
    /// Prints the chain's head (position and hash) and the rows not sealed yet. Every anchor in
    /// audit.anchor_dir is checked: its signature, and that the chain still holds its hash. A head
    /// printed earlier can be checked too with --anchor. Exit status 0 when the chain and every
    /// anchor hold, 1 otherwise.
    Verify {
        /// A head printed earlier, POSITION:HASH, that must still be in the chain
        #[arg(long, value_name = "POSITION:HASH")]
        anchor: Vec<String>,
    },
    /// Seal the rows written since the sealer last ran (servers and workers do it every second)
    Seal,
    /// Anchor the chain's head now: sign it with audit.anchor_key_file into audit.anchor_dir
    Anchor,
    /// Write the audit rows of a period as CSV, for privacy officers
    Export {
        /// Start of the period, inclusive (YYYY-MM-DD or RFC 3339)
        #[arg(long, value_parser = parse_time)]
        from: chrono::DateTime<chrono::Utc>,
        /// End of the period, exclusive (YYYY-MM-DD or RFC 3339)
        #[arg(long, value_parser = parse_time)]
        to: chrono::DateTime<chrono::Utc>,
        /// Write to this file instead of standard output
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}
