//! Where messages go: SMTP when `[email] smtp_host` is set (pooled connections; STARTTLS, implicit
//! TLS through rustls, or plain only to a loopback relay; optional authentication), else lettre's
//! file transport into `email.mail_dir`, so that a newcomer can read what would have been sent.

use std::path::PathBuf;
use std::time::Duration;

use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{FileTransport, Message, SmtpTransport, Transport as _};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection, upgraded with STARTTLS (required, never skipped).
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
    /// No encryption: only for a relay on this machine.
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    /// The SMTP server; unset: messages are written as files into `mail_dir`.
    pub smtp_host: Option<String>,
    /// Default: 587 for starttls, 465 for tls, 25 for none.
    pub smtp_port: Option<u16>,
    pub smtp_tls: SmtpTls,
    pub smtp_username: Option<String>,
    pub smtp_password: Option<SecretString>,
    /// A PEM certificate to trust besides the system's (a hospital's own CA).
    pub smtp_ca_file: Option<PathBuf>,
    /// Connections kept to the server.
    pub smtp_pool_size: u32,
    pub smtp_timeout_secs: u64,
    /// The sender, such as `Vigil <vigil@hospital.example>`.
    pub from: String,
    pub mail_dir: PathBuf,
    /// Attempts before a message is dead-lettered.
    pub max_attempts: i32,
    /// Retries wait `retry_base_secs` · 2^(attempt − 1), at most `retry_max_secs`, with jitter.
    pub retry_base_secs: u64,
    pub retry_max_secs: u64,
    /// How long a relay holds a message it is sending; after that, another may send it.
    pub lease_secs: u64,
    /// At least this long between two messages to one person, unless a critical alert is due.
    pub group_interval_secs: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("email.smtp_ca_file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
    #[error("email.smtp_tls = none is only for a relay on this machine, not {0}")]
    PlainRemote(String),
    #[error("email: {0}")]
    Smtp(#[from] lettre::transport::smtp::Error),
    #[error("email.mail_dir {path}: {source}")]
    MailDir { path: PathBuf, source: std::io::Error },
}

/// Why a send failed, and whether trying again may help.
#[derive(Debug, Clone)]
pub struct SendError {
    pub permanent: bool,
    pub message: String,
}

pub enum Transport {
    Smtp(SmtpTransport),
    File(FileTransport),
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Smtp(_) => "Transport::Smtp",
            Self::File(_) => "Transport::File",
        })
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl Transport {
    pub fn from_settings(settings: &EmailSettings) -> Result<Self, TransportError> {
        let Some(host) = settings.smtp_host.as_deref() else {
            std::fs::create_dir_all(&settings.mail_dir)
                .map_err(|source| TransportError::MailDir { path: settings.mail_dir.clone(), source })?;
            return Ok(Self::File(FileTransport::new(&settings.mail_dir)));
        };
        let tls_parameters = || -> Result<TlsParameters, TransportError> {
            let mut builder = TlsParameters::builder(host.to_owned());
            if let Some(path) = &settings.smtp_ca_file {
                let ca = |reason: String| TransportError::CaFile { path: path.clone(), reason };
                let pem = std::fs::read(path).map_err(|e| ca(e.to_string()))?;
                builder = builder.add_root_certificate(Certificate::from_pem(&pem).map_err(|e| ca(e.to_string()))?);
            }
            Ok(builder.build_rustls()?)
        };
        let (tls, port) = match settings.smtp_tls {
            SmtpTls::Starttls => (Tls::Required(tls_parameters()?), 587),
            SmtpTls::Tls => (Tls::Wrapper(tls_parameters()?), 465),
            SmtpTls::None if is_loopback(host) => (Tls::None, 25),
            SmtpTls::None => return Err(TransportError::PlainRemote(host.to_owned())),
        };
        let mut builder = SmtpTransport::builder_dangerous(host)
            .port(settings.smtp_port.unwrap_or(port))
            .tls(tls)
            .timeout(Some(Duration::from_secs(settings.smtp_timeout_secs)))
            .pool_config(PoolConfig::new().max_size(settings.smtp_pool_size.max(1)));
        if let (Some(user), Some(password)) = (&settings.smtp_username, &settings.smtp_password) {
            builder = builder.credentials(Credentials::new(user.clone(), password.expose_secret().to_owned()));
        }
        Ok(Self::Smtp(builder.build()))
    }

    pub fn send(&self, message: &Message) -> Result<(), SendError> {
        match self {
            Self::Smtp(smtp) => smtp
                .send(message)
                .map(|_| ())
                .map_err(|e| SendError { permanent: e.is_permanent(), message: e.to_string() }),
            Self::File(file) => {
                file.send(message).map(|_| ()).map_err(|e| SendError { permanent: false, message: e.to_string() })
            }
        }
    }
}
