//! An email address and a display name as a user record holds them: an address lettre can send to
//! and the database accepts (a domain with a dot), and a name without line breaks, which would
//! otherwise end up in a header.

use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactError {
    #[error("{0:?} is not an email address like name@hospital.example")]
    Email(String),
    #[error("a display name is 1 to 200 characters on one line")]
    DisplayName,
}

impl Email {
    pub fn parse(raw: &str) -> Result<Self, ContactError> {
        let raw = raw.trim();
        let invalid = || ContactError::Email(raw.chars().take(100).collect());
        let address = lettre::Address::from_str(raw).map_err(|_| invalid())?;
        let domain = address.domain();
        let dotted = domain.contains('.') && domain.rsplit('.').next().is_some_and(|tld| tld.len() >= 2);
        if raw.len() > 254 || !dotted || !domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
            return Err(invalid());
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a display name: one line, 1 to 200 characters.
pub fn display_name(raw: &str) -> Result<&str, ContactError> {
    let name = raw.trim();
    let fits = (1..=200).contains(&name.chars().count());
    if fits && !name.chars().any(|c| c.is_control()) { Ok(name) } else { Err(ContactError::DisplayName) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_names_that_could_break_a_header_are_refused() {
        assert_eq!(Email::parse(" nurse@hospital.example ").map(|e| e.0), Ok("nurse@hospital.example".to_owned()));
        for bad in ["nurse", "nurse@localhost", "a@b.c", "nurse@hospital.example\r\nBcc: x@y.example", "<a@b.example>"]
        {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(display_name(" Ada Nurse "), Ok("Ada Nurse"));
        assert_eq!(display_name("Ada\r\nBcc: x@y.example"), Err(ContactError::DisplayName));
        assert_eq!(display_name(""), Err(ContactError::DisplayName));
    }
}
