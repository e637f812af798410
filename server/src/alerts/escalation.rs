//! Who is called when a critical alert is not acknowledged in time, per care unit: the unit's
//! escalation contacts (members flagged for it), after the unit's delay and again at its repeat
//! interval. The sweep (`sweep.rs`) does the calling.

use std::time::Duration;

use diesel::prelude::*;
use vigil_store::schema::{care_units, user_units, users};

use crate::auth::users::{UnitCode, UserError, Username};

/// The longest delay or repeat interval (a week), as the database checks it.
const LONGEST: Duration = Duration::from_secs(604_800);

#[derive(Debug, thiserror::Error)]
pub enum EscalationError {
    #[error("escalation delays are 1 second to 7 days")]
    OutOfRange,
    #[error("{user} is not a member of unit {unit}: add the unit to the user first")]
    NotMember { user: String, unit: String },
    #[error(transparent)]
    User(#[from] UserError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

fn seconds(d: Duration) -> Result<i32, EscalationError> {
    if d < Duration::from_secs(1) || d > LONGEST {
        return Err(EscalationError::OutOfRange);
    }
    i32::try_from(d.as_secs()).map_err(|_| EscalationError::OutOfRange)
}

/// Sets how long a critical alert of `unit` may stay unacknowledged, and how often it is repeated.
pub fn set_delays(
    conn: &mut PgConnection,
    unit: &UnitCode,
    after: Duration,
    repeat: Duration,
) -> Result<(), EscalationError> {
    let (after, repeat) = (seconds(after)?, seconds(repeat)?);
    let changed = diesel::update(care_units::table.filter(care_units::code.eq(unit.as_str())))
        .set((care_units::escalate_after_secs.eq(after), care_units::escalate_repeat_secs.eq(repeat)))
        .execute(conn)?;
    if changed == 0 {
        return Err(UserError::NoSuchUnit(unit.as_str().to_owned()).into());
    }
    Ok(())
}

/// Makes `user` an escalation contact of `unit` (or, with `on` false, no longer one).
pub fn set_contact(conn: &mut PgConnection, unit: &UnitCode, user: &Username, on: bool) -> Result<(), EscalationError> {
    let unit_id: i64 = care_units::table
        .filter(care_units::code.eq(unit.as_str()))
        .select(care_units::id)
        .first(conn)
        .optional()?
        .ok_or_else(|| UserError::NoSuchUnit(unit.as_str().to_owned()))?;
    let user_id: i64 = users::table
        .filter(users::username.eq(user.as_str()))
        .select(users::id)
        .first(conn)
        .optional()?
        .ok_or_else(|| UserError::NoSuchUser(user.as_str().to_owned()))?;
    let changed = diesel::update(user_units::table.find((user_id, unit_id)))
        .set(user_units::escalation_contact.eq(on))
        .execute(conn)?;
    if changed == 0 {
        return Err(EscalationError::NotMember { user: user.as_str().to_owned(), unit: unit.as_str().to_owned() });
    }
    Ok(())
}

/// A member of a care unit, and whether they are called when its critical alerts wait.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Member {
    pub username: String,
    pub display_name: String,
    pub contact: bool,
}

/// A care unit as administration sees it: its escalation timing and its members.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Unit {
    pub code: String,
    pub name: String,
    pub escalate_after_secs: i32,
    pub escalate_repeat_secs: i32,
    pub members: Vec<Member>,
}

/// Every care unit with its escalation timing and members (enabled accounts), by code.
pub fn units(conn: &mut PgConnection) -> Result<Vec<Unit>, EscalationError> {
    let rows: Vec<(i64, String, String, i32, i32)> = care_units::table
        .order(care_units::code)
        .select((
            care_units::id,
            care_units::code,
            care_units::name,
            care_units::escalate_after_secs,
            care_units::escalate_repeat_secs,
        ))
        .load(conn)?;
    let members: Vec<(i64, String, String, bool)> = user_units::table
        .inner_join(users::table)
        .filter(users::disabled_at.is_null())
        .order(users::username)
        .select((user_units::unit_id, users::username, users::display_name, user_units::escalation_contact))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(id, code, name, after, repeat)| Unit {
            code,
            name,
            escalate_after_secs: after,
            escalate_repeat_secs: repeat,
            members: members
                .iter()
                .filter(|(unit, ..)| *unit == id)
                .map(|(_, username, display_name, contact)| Member {
                    username: username.clone(),
                    display_name: display_name.clone(),
                    contact: *contact,
                })
                .collect(),
        })
        .collect())
}
