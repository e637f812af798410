//! The users and API clients that bearer tokens name, remembered between requests.
//!
//! A token stays valid for minutes, but whether its user is still enabled, still has the password
//! the token was issued under, and still belongs to the same units is checked on every request.
//! Asking the database each time was a round trip, a pool checkout and a thread hand-off on every
//! API call. Instead the server remembers what it read and forgets all of it when Postgres says
//! something changed (the `principal_wake` migration's triggers notify `vigil_principals` when the
//! changing transaction commits); see [`crate::remembered`] for how.

use vigil_store::wake::Channel;

use super::users::User;
use crate::remembered::Remembered;

/// What a bearer token's subject names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    User(i64),
    Client(String),
}

/// What the database said of a subject: the user (None: no such user), or whether the client is
/// registered and enabled.
#[derive(Debug, Clone)]
pub enum Known {
    User(Option<User>),
    Client(bool),
}

/// Most subjects remembered; past it, everything is forgotten (a hospital has far fewer).
const REMEMBERED: usize = 20_000;

pub type KnownPrincipals = Remembered<Subject, Known>;

impl Default for KnownPrincipals {
    fn default() -> Self {
        Remembered::new(Channel::Principals, REMEMBERED)
    }
}
