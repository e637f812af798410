//! The database's connection URL, kept secret.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer};

/// A Postgres connection URL. It may carry a password, so it is held as a secret: `Debug` and
/// `Display` show it without its credentials.
#[derive(Clone)]
pub struct DatabaseUrl(SecretString);

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let url = url::Url::parse(raw).map_err(|e| format!("not a URL ({e})"))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err(format!("expected a postgres:// or postgresql:// URL, found scheme {:?}", url.scheme()));
        }
        Ok(Self(SecretString::from(raw)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Host, port and database name, with no credentials: safe to print and log.
    pub fn redacted(&self) -> String {
        match url::Url::parse(self.expose()) {
            Ok(url) => format!(
                "{}://{}{}{}",
                url.scheme(),
                url.host_str().unwrap_or("localhost"),
                url.port().map(|p| format!(":{p}")).unwrap_or_default(),
                url.path()
            ),
            Err(_) => "postgres://[unparseable]".to_owned(),
        }
    }

    /// Host, port and database as one file name (`db.example.org-5432-vigil`): the audit spool
    /// keeps each database's rows apart, so that rows kept for one never reach another.
    pub fn place(&self) -> String {
        let place = match url::Url::parse(self.expose()) {
            Ok(url) => format!(
                "{}-{}-{}",
                url.host_str().unwrap_or("localhost"),
                url.port().unwrap_or(5432),
                url.path().trim_start_matches('/')
            ),
            Err(_) => "unparseable".to_owned(),
        };
        place.chars().map(|c| if c.is_ascii_alphanumeric() || ".-_".contains(c) { c } else { '_' }).collect()
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DatabaseUrl({})", self.redacted())
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}
