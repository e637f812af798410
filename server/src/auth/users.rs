//! Users and care units in the database.

use diesel::prelude::*;
use vigil_store::schema::{
    care_units, patient_unit_assignments, patients, sessions, sign_in_failures, user_units, users,
};

use super::Role;

#[derive(Debug, thiserror::Error)]
pub enum UserError {
    #[error("a username is 2 to 64 characters: lowercase letters, digits and . _ @ -, starting with a letter or digit")]
    InvalidUsername,
    #[error("user {0} already exists")]
    Exists(String),
    #[error("no user {0}")]
    NoSuchUser(String),
    #[error("no care unit {0} (add it with `vigil unit add {0} --name ...`)")]
    NoSuchUnit(String),
    #[error("care unit {0} already exists")]
    UnitExists(String),
    #[error("no patient {0}")]
    NoSuchPatient(String),
    #[error("a unit code is 1 to 64 characters: letters, digits and . _ -, starting with a letter or digit")]
    InvalidUnitCode,
    #[error(transparent)]
    Contact(#[from] super::email::ContactError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

impl crate::http::fault::Fault for UserError {
    fn out_of_reach(&self) -> bool {
        matches!(self, Self::Database(e) if e.out_of_reach())
    }
}

/// A username as stored: lowercase, so sign-in is case-insensitive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, UserError> {
        let name = raw.trim().to_lowercase();
        let valid = (2..=64).contains(&name.len())
            && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._@-".contains(c));
        if valid { Ok(Self(name)) } else { Err(UserError::InvalidUsername) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitCode(String);

impl UnitCode {
    pub fn parse(raw: &str) -> Result<Self, UserError> {
        let code = raw.trim();
        let valid = (1..=64).contains(&code.len())
            && code.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            && code.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if valid { Ok(Self(code.to_owned())) } else { Err(UserError::InvalidUnitCode) }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A user as the rest of the server sees them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    pub units: Vec<String>,
    pub disabled: bool,
    /// A second factor (TOTP) is enrolled.
    pub mfa_enrolled: bool,
    /// Tokens issued before this are no longer accepted.
    pub password_changed_at: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Queryable, Selectable)]
#[diesel(table_name = users, check_for_backend(diesel::pg::Pg))]
struct UserRow {
    id: i64,
    username: String,
    display_name: String,
    role: String,
    disabled_at: Option<chrono::DateTime<chrono::Utc>>,
    #[diesel(select_expression = users::totp_secret.is_not_null())]
    mfa_enrolled: bool,
    password_changed_at: chrono::DateTime<chrono::Utc>,
    /// The user's unit codes, in the same query (every authenticated request reads a user), by a
    /// database function so that the query stays one diesel prepares once per connection.
    #[diesel(
        select_expression = user_unit_codes(users::id),
        select_expression_type = user_unit_codes<users::id>
    )]
    units: Vec<String>,
}

diesel::define_sql_function! {
    /// The unit codes of a user (migration `access_functions`).
    fn user_unit_codes(user_id: diesel::sql_types::BigInt) -> diesel::sql_types::Array<diesel::sql_types::Text>;
}

impl std::fmt::Debug for NewUser<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password hash stays out of debug output.
        f.debug_struct("NewUser").field("username", self.username).field("role", &self.role).finish_non_exhaustive()
    }
}

pub struct NewUser<'a> {
    pub username: &'a Username,
    pub display_name: &'a str,
    pub role: Role,
    pub password_hash: &'a str,
    pub units: &'a [UnitCode],
    pub email: Option<&'a super::email::Email>,
}

pub fn add(conn: &mut PgConnection, new: &NewUser<'_>) -> Result<i64, UserError> {
    conn.transaction(|conn| {
        let unit_ids = unit_ids(conn, new.units)?;
        let id = diesel::insert_into(users::table)
            .values((
                users::username.eq(new.username.as_str()),
                users::display_name.eq(super::email::display_name(new.display_name)?),
                users::role.eq(new.role.as_str()),
                users::password_hash.eq(new.password_hash),
                users::email.eq(new.email.map(super::email::Email::as_str)),
            ))
            .on_conflict_do_nothing()
            .returning(users::id)
            .get_result::<i64>(conn)
            .optional()?
            .ok_or_else(|| UserError::Exists(new.username.as_str().to_owned()))?;
        let memberships: Vec<_> =
            unit_ids.iter().map(|u| (user_units::user_id.eq(id), user_units::unit_id.eq(*u))).collect();
        diesel::insert_into(user_units::table).values(memberships).execute(conn)?;
        Ok(id)
    })
}

fn unit_ids(conn: &mut PgConnection, codes: &[UnitCode]) -> Result<Vec<i64>, UserError> {
    codes
        .iter()
        .map(|code| {
            care_units::table
                .filter(care_units::code.eq(code.as_str()))
                .select(care_units::id)
                .first(conn)
                .optional()?
                .ok_or_else(|| UserError::NoSuchUnit(code.as_str().to_owned()))
        })
        .collect()
}

pub fn list(conn: &mut PgConnection) -> Result<Vec<User>, UserError> {
    let rows: Vec<UserRow> = users::table.select(UserRow::as_select()).order(users::username).load(conn)?;
    Ok(rows.into_iter().map(User::from).collect())
}

pub fn find(conn: &mut PgConnection, username: &str) -> Result<Option<(User, String)>, UserError> {
    let row: Option<(UserRow, String)> = users::table
        .filter(users::username.eq(username.to_lowercase()))
        .select((UserRow::as_select(), users::password_hash))
        .first(conn)
        .optional()?;
    Ok(row.map(|(row, hash)| (User::from(row), hash)))
}

pub fn by_id(conn: &mut PgConnection, id: i64) -> Result<Option<User>, UserError> {
    let row: Option<UserRow> = users::table.find(id).select(UserRow::as_select()).first(conn).optional()?;
    Ok(row.map(User::from))
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> Self {
        User {
            id: row.id,
            username: row.username,
            display_name: row.display_name,
            // The column's CHECK constraint admits only the four roles.
            role: row.role.parse().unwrap_or(Role::Clinician),
            units: row.units,
            disabled: row.disabled_at.is_some(),
            mfa_enrolled: row.mfa_enrolled,
            password_changed_at: row.password_changed_at,
        }
    }
}

/// Disables the account and ends its sessions at once.
pub fn disable(conn: &mut PgConnection, username: &Username) -> Result<(), UserError> {
    conn.transaction(|conn| {
        let id = id_of(conn, username)?;
        diesel::update(users::table.find(id)).set(users::disabled_at.eq(diesel::dsl::now)).execute(conn)?;
        end_sessions(conn, id)
    })
}

/// Lets a disabled account sign in again.
pub fn enable(conn: &mut PgConnection, username: &Username) -> Result<(), UserError> {
    let id = id_of(conn, username)?;
    diesel::update(users::table.find(id))
        .set(users::disabled_at.eq(None::<chrono::DateTime<chrono::Utc>>))
        .execute(conn)?;
    Ok(())
}

/// Gives the user this role and exactly these units; a unit kept keeps its escalation-contact
/// flag. Takes effect on the user's next request (each request reads the user afresh).
pub fn set_access(
    conn: &mut PgConnection,
    username: &Username,
    role: Role,
    units: &[UnitCode],
) -> Result<(), UserError> {
    conn.transaction(|conn| {
        let id = id_of(conn, username)?;
        let unit_ids = unit_ids(conn, units)?;
        diesel::update(users::table.find(id)).set(users::role.eq(role.as_str())).execute(conn)?;
        diesel::delete(user_units::table.filter(user_units::user_id.eq(id).and(user_units::unit_id.ne_all(&unit_ids))))
            .execute(conn)?;
        let memberships: Vec<_> =
            unit_ids.iter().map(|u| (user_units::user_id.eq(id), user_units::unit_id.eq(*u))).collect();
        diesel::insert_into(user_units::table).values(memberships).on_conflict_do_nothing().execute(conn)?;
        Ok(())
    })
}

/// The email address notices go to, per user id.
pub fn emails(conn: &mut PgConnection) -> Result<std::collections::HashMap<i64, String>, UserError> {
    let rows: Vec<(i64, Option<String>)> = users::table.select((users::id, users::email)).load(conn)?;
    Ok(rows.into_iter().filter_map(|(id, email)| email.map(|e| (id, e))).collect())
}

/// Stores a new password hash, clears the account's sign-in back-off, and ends its sessions.
pub fn set_password(conn: &mut PgConnection, username: &Username, hash: &str) -> Result<(), UserError> {
    conn.transaction(|conn| {
        let id = id_of(conn, username)?;
        diesel::update(users::table.find(id))
            .set((users::password_hash.eq(hash), users::password_changed_at.eq(diesel::dsl::now)))
            .execute(conn)?;
        let account = format!("account:{}", username.as_str());
        let pairs = format!("pair:{}|%", username.as_str());
        diesel::delete(
            sign_in_failures::table.filter(sign_in_failures::key.eq(account).or(sign_in_failures::key.like(pairs))),
        )
        .execute(conn)?;
        end_sessions(conn, id)
    })
}

/// Replaces a hash after a successful sign-in found it used outdated parameters.
pub fn rehash(conn: &mut PgConnection, id: i64, hash: &str) -> Result<(), UserError> {
    diesel::update(users::table.find(id)).set(users::password_hash.eq(hash)).execute(conn)?;
    Ok(())
}

/// Removes the user's second factor and recovery codes, and ends their sessions.
pub fn reset_mfa(conn: &mut PgConnection, username: &Username) -> Result<(), UserError> {
    conn.transaction(|conn| {
        let id = id_of(conn, username)?;
        super::mfa::reset(conn, id)?;
        end_sessions(conn, id)
    })
}

fn id_of(conn: &mut PgConnection, username: &Username) -> Result<i64, UserError> {
    users::table
        .filter(users::username.eq(username.as_str()))
        .select(users::id)
        .first(conn)
        .optional()?
        .ok_or_else(|| UserError::NoSuchUser(username.as_str().to_owned()))
}

fn end_sessions(conn: &mut PgConnection, user_id: i64) -> Result<(), UserError> {
    diesel::update(sessions::table.filter(sessions::user_id.eq(user_id).and(sessions::ended_at.is_null())))
        .set(sessions::ended_at.eq(diesel::dsl::now))
        .execute(conn)?;
    Ok(())
}

pub fn add_unit(conn: &mut PgConnection, code: &UnitCode, name: &str) -> Result<(), UserError> {
    let inserted = diesel::insert_into(care_units::table)
        .values((care_units::code.eq(code.as_str()), care_units::name.eq(name)))
        .on_conflict_do_nothing()
        .execute(conn)?;
    if inserted == 0 { Err(UserError::UnitExists(code.as_str().to_owned())) } else { Ok(()) }
}

pub fn list_units(conn: &mut PgConnection) -> Result<Vec<(String, String)>, UserError> {
    Ok(care_units::table.select((care_units::code, care_units::name)).order(care_units::code).load(conn)?)
}

/// Assigns the patient with this FHIR id to a unit; returns the patient's row id.
pub fn assign_patient(conn: &mut PgConnection, code: &UnitCode, fhir_id: &str) -> Result<i64, UserError> {
    conn.transaction(|conn| {
        let unit = unit_ids(conn, std::slice::from_ref(code))?[0];
        let patient: i64 = patients::table
            .filter(patients::fhir_id.eq(fhir_id).and(patients::version.gt(0)))
            .select(patients::id)
            .first(conn)
            .optional()?
            .ok_or_else(|| UserError::NoSuchPatient(fhir_id.to_owned()))?;
        diesel::insert_into(patient_unit_assignments::table)
            .values((patient_unit_assignments::patient_id.eq(patient), patient_unit_assignments::unit_id.eq(unit)))
            .on_conflict_do_nothing()
            .execute(conn)?;
        Ok(patient)
    })
}

/// Sets (or with None, removes) the email address notices go to.
pub fn set_email(
    conn: &mut PgConnection,
    username: &Username,
    email: Option<&super::email::Email>,
) -> Result<(), UserError> {
    let changed = diesel::update(users::table.filter(users::username.eq(username.as_str())))
        .set(users::email.eq(email.map(super::email::Email::as_str)))
        .execute(conn)?;
    if changed == 0 {
        return Err(UserError::NoSuchUser(username.as_str().to_owned()));
    }
    Ok(())
}
