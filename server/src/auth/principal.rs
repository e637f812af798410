//! Who is making a request, once authenticated.

use super::users::User;

#[derive(Debug, Clone)]
pub enum Principal {
    /// A person, signed in to the portal or holding an API token.
    User(User),
    /// A system authenticated with SMART Backend Services.
    Client { client_id: String, scopes: Scopes },
}

impl Principal {
    /// How the audit trail names this principal.
    pub fn actor(&self) -> String {
        match self {
            Self::User(user) => format!("user:{}", user.username),
            Self::Client { client_id, .. } => format!("client:{client_id}"),
        }
    }

    pub fn role(&self) -> &'static str {
        match self {
            Self::User(user) => user.role.as_str(),
            Self::Client { .. } => "system",
        }
    }

    pub fn user_id(&self) -> Option<i64> {
        match self {
            Self::User(user) => Some(user.id),
            Self::Client { .. } => None,
        }
    }
}

/// SMART v1 system scopes: `system/<Type or *>.<read, write or *>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes(Vec<Scope>);

#[derive(Debug, Clone, PartialEq, Eq)]
struct Scope {
    resource_type: String,
    read: bool,
    write: bool,
}

impl Scopes {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let scopes = raw
            .split_whitespace()
            .map(|s| {
                let rest = s.strip_prefix("system/").ok_or_else(|| format!("{s:?} is not a system/ scope"))?;
                let (resource_type, access) =
                    rest.split_once('.').ok_or_else(|| format!("{s:?} has no access part"))?;
                let valid_type = resource_type == "*"
                    || (resource_type.starts_with(|c: char| c.is_ascii_uppercase())
                        && resource_type.chars().all(|c| c.is_ascii_alphabetic()));
                if !valid_type {
                    return Err(format!("{s:?} names no resource type"));
                }
                let (read, write) = match access {
                    "read" => (true, false),
                    "write" => (false, true),
                    "*" => (true, true),
                    _ => return Err(format!("{s:?}: access must be read, write or *")),
                };
                Ok(Scope { resource_type: resource_type.to_owned(), read, write })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if scopes.is_empty() {
            return Err("no scopes".into());
        }
        Ok(Self(scopes))
    }

    pub fn allow(&self, resource_type: &str, write: bool) -> bool {
        self.0.iter().any(|s| {
            (s.resource_type == "*" || s.resource_type == resource_type) && if write { s.write } else { s.read }
        })
    }

    /// The write part of these scopes (`system/X.write` for every `X` written), if any.
    pub fn writes(&self) -> Option<Scopes> {
        let writes: Vec<Scope> = self
            .0
            .iter()
            .filter(|s| s.write)
            .map(|s| Scope { resource_type: s.resource_type.clone(), read: false, write: true })
            .collect();
        (!writes.is_empty()).then_some(Scopes(writes))
    }

    /// Every type, written: what a role that may write anything amounts to.
    pub fn write_all() -> Scopes {
        Scopes(vec![Scope { resource_type: "*".into(), read: false, write: true }])
    }

    /// The subset of `requested` that these scopes cover, or None when nothing is covered.
    pub fn grant(&self, requested: &Scopes) -> Option<Scopes> {
        let granted: Vec<Scope> = requested
            .0
            .iter()
            .filter(|r| {
                self.0.iter().any(|s| {
                    (s.resource_type == "*" || s.resource_type == r.resource_type)
                        && (!r.read || s.read)
                        && (!r.write || s.write)
                })
            })
            .cloned()
            .collect();
        (!granted.is_empty()).then_some(Scopes(granted))
    }
}

impl std::fmt::Display for Scopes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|s| {
                let access = match (s.read, s.write) {
                    (true, true) => "*",
                    (false, true) => "write",
                    _ => "read",
                };
                format!("system/{}.{access}", s.resource_type)
            })
            .collect();
        f.write_str(&parts.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::Scopes;

    #[test]
    fn scopes_parse_and_narrow() {
        assert!(Scopes::parse("patient/Patient.read").is_err());
        assert!(Scopes::parse("system/patient.read").is_err());
        assert!(Scopes::parse("system/Patient.delete").is_err());
        assert!(Scopes::parse("").is_err());
        let registered = Scopes::parse("system/Patient.read system/Observation.*").expect("valid");
        let asked = Scopes::parse("system/Patient.read system/Encounter.read system/Observation.write").expect("valid");
        let granted = registered.grant(&asked).expect("some granted");
        assert_eq!(granted.to_string(), "system/Patient.read system/Observation.write");
        assert!(registered.grant(&Scopes::parse("system/*.read").expect("valid")).is_none());
        assert_eq!(registered.writes().map(|s| s.to_string()).as_deref(), Some("system/Observation.write"));
        assert!(Scopes::parse("system/*.read").expect("valid").writes().is_none());
    }
}
