//! Why the configuration could not be loaded, naming each key and where its value came from.

use std::path::PathBuf;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {}", describe(.0))]
    Invalid(Box<figment::Error>),
    #[error("{key} is not set: {hint}")]
    Missing { key: &'static str, hint: &'static str },
    #[error("{key} is out of range: expected {expected}")]
    OutOfRange { key: &'static str, expected: &'static str },
    #[error("server.tls_cert_file and server.tls_key_file go together: set both or neither")]
    HalfTls,
}

impl From<figment::Error> for ConfigError {
    fn from(error: figment::Error) -> Self {
        Self::Invalid(Box::new(error))
    }
}

/// One line per invalid value: the dotted key, exactly where the value came from (the
/// environment variable or the file), and what was expected.
fn describe(error: &figment::Error) -> String {
    let lines: Vec<String> = error
        .clone()
        .into_iter()
        .map(|e| {
            let key = e.path.join(".").to_lowercase();
            let source = match &e.metadata {
                Some(m) if m.name.contains("VIGIL_") => {
                    format!("environment variable VIGIL_{}", e.path.join("__").to_uppercase())
                }
                Some(m) if m.name.contains("environment") => "environment variable DATABASE_URL".to_owned(),
                Some(m) => match &m.source {
                    Some(source) => format!("{} {source}", m.name),
                    None => m.name.to_string(),
                },
                None => "the configuration".to_owned(),
            };
            if key.is_empty() {
                format!("{} (in {source})", e.kind)
            } else {
                format!("{key} (from {source}): {}", e.kind)
            }
        })
        .collect();
    lines.join("; ")
}
