//! Typed configuration: defaults, then an optional TOML file, then the environment.
//!
//! Environment keys: `DATABASE_URL`, and `VIGIL_<SECTION>__<KEY>` for everything else
//! (`VIGIL_SERVER__PORT=8081`, `VIGIL_DATABASE__POOL_SIZE=20`, `VIGIL_LOG__FORMAT=json`).
//! The file is `--config FILE` or `VIGIL_CONFIG`, else `vigil.toml` in the working directory when
//! it exists. A value of the wrong type stops start-up with a message naming the key, where it
//! came from and what was expected.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

mod database_url;
mod error;

pub use database_url::DatabaseUrl;
pub use error::ConfigError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub server: ServerSettings,
    pub auth: AuthSettings,
    pub audit: AuditSettings,
    pub alerts: AlertSettings,
    pub monitoring: MonitoringSettings,
    #[serde(default)]
    pub worker: WorkerSettings,
    pub email: crate::alerts::transport::EmailSettings,
    pub log: LogSettings,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    /// How long a notice waits for others to the same person, to go in one message.
    pub group_wait_secs: u64,
    /// How long notices wait for who asked for digests.
    pub digest_secs: u64,
    /// The longest snooze a clinician may set.
    pub max_snooze_hours: u32,
}

impl AlertSettings {
    pub fn timing(&self) -> crate::alerts::engine::Timing {
        crate::alerts::engine::Timing {
            group_wait: Duration::from_secs(self.group_wait_secs),
            digest: Duration::from_secs(self.digest_secs),
        }
    }
}

/// Model monitoring, retraining and promotion (run by `vigil worker`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitoringSettings {
    /// When outcomes are matured and the figures computed (a cron expression with seconds).
    pub cron: String,
    /// Matured AUROC this far below validation notifies informatics.
    pub auroc_margin: f64,
    /// A week's matured AUROC is judged only with this many events and non-events at the least.
    pub min_events: usize,
    /// When to retrain on the newest matured window (a cron expression with seconds); empty: never.
    pub retrain_cron: String,
    /// The newest window a scheduled retraining learns from, in days.
    pub retrain_window_days: i64,
    /// Promote a retrained challenger on its own when the guard passes it.
    pub auto_promote: bool,
    /// The promotion guard: the paired AUROC difference over the champion must reach this.
    pub promote_min_auroc_gain: f64,
    /// The promotion guard: the challenger's alerts per 100 patient-days may differ from the
    /// champion's by at most this share.
    pub promote_burden_band: f64,
    /// The promotion guard: events (and non-events) the shadow period must have matured.
    pub promote_min_events: usize,
    /// Scores older than this many days are retired month by month after each monitoring pass
    /// (those alerts and CDS cards name, and each week's first run of everyone, are kept); 0 keeps
    /// every score.
    pub score_retention_days: u32,
}

impl MonitoringSettings {
    pub fn rules(&self) -> vigil_scoring::promotion::Rules {
        vigil_scoring::promotion::Rules {
            min_auroc_gain: self.promote_min_auroc_gain,
            burden_band: self.promote_burden_band,
            min_events: self.promote_min_events,
            ..vigil_scoring::promotion::Rules::default()
        }
    }

    pub fn job(&self) -> vigil_scoring::monitoring::job::Settings {
        vigil_scoring::monitoring::job::Settings { auroc_margin: self.auroc_margin, min_events: self.min_events }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Where anchors of the audit chain are written, one write-once file each (storage outside
    /// the database, ideally one that refuses rewrites); anchoring is off when unset.
    pub anchor_dir: Option<PathBuf>,
    /// The Ed25519 private key (PKCS#8 PEM) anchors are signed with; kept out of the database.
    pub anchor_key_file: Option<PathBuf>,
    /// When anchors are written (a cron expression with seconds).
    pub anchor_cron: String,
    /// Rejected tokens and CSRF failures from one address are counted into one audit row per
    /// window of this many seconds.
    pub security_event_window_secs: u64,
    /// Where `serve` keeps audit rows on disk while the primary is out of reach (reads answered
    /// from the replica), until it can append them: storage that survives a restart of the server.
    pub spool_dir: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// Absent until validated: see [`Settings::database_url`]. The application's runtime role.
    pub url: Option<DatabaseUrl>,
    /// The owner role that applies migrations (`vigil migrate`, and `vigil serve` in the
    /// background); when unset, `url` is used, as in a single-role installation.
    pub migration_url: Option<DatabaseUrl>,
    /// A streaming replica of the database (read-only, as the runtime role): `serve` answers FHIR
    /// reads and searches from it, and authenticates from it while the primary is out of reach.
    pub read_url: Option<DatabaseUrl>,
    /// How long after a principal's write their FHIR reads stay on the primary, so that they read
    /// what they wrote whatever the replica's lag.
    pub read_your_writes_secs: u64,
    /// Whether `serve` remembers the resources it reads by id until Postgres notifies a change
    /// (never with a replica): see `http/access/remembered_reads.rs`.
    pub remember_reads: bool,
    pub pool_size: u32,
    pub connect_timeout_secs: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    pub host: IpAddr,
    pub port: u16,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// How long in-flight requests may run after SIGTERM before the server stops anyway.
    pub shutdown_timeout_secs: u64,
    /// PEM certificate chain and private key; with both, the server speaks HTTPS only.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// The URL clients reach this server at: SMART assertions name `<public_url>/auth/token` as
    /// their audience, and links and origins are made from it. Required by `serve`: taking it from
    /// each request's Host header would let an assertion made for another deployment be replayed.
    pub public_url: Option<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Largest body of a FHIR Bundle or resource, in bytes (read whole, then parsed).
    pub max_fhir_body_bytes: usize,
    /// Most entries a pushed Bundle may have.
    pub max_bundle_entries: usize,
    /// Largest `$import` NDJSON body, in bytes (streamed into the queue, never held whole).
    pub max_import_bytes: u64,
    /// Reverse proxies (addresses or networks) whose `X-Forwarded-For` names the client.
    pub trusted_proxies: crate::http::proxies::TrustedProxies,
    /// Requests per minute each principal may make of the APIs (0: no limit), and how many at once.
    pub api_requests_per_minute: u32,
    pub api_burst: u32,
    /// Where `/metrics` is served without authentication (a scraper's network only); unset: only
    /// on the main port, for administrators.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    /// Where the worker serves `/metrics` (scoring runs, email sends); unset: nowhere.
    pub metrics_addr: Option<std::net::SocketAddr>,
}

impl ServerSettings {
    /// `public_url` as a base (scheme, host, port; no trailing slash), which `serve` requires.
    pub fn public_url(&self) -> Result<String, ConfigError> {
        let raw = self.public_url.as_deref().ok_or(ConfigError::Missing {
            key: "server.public_url",
            hint: "set it to the URL clients reach this server at, such as https://vigil.hospital.example \
                   (SMART client assertions must name <public_url>/auth/token)",
        })?;
        let invalid = || ConfigError::OutOfRange {
            key: "server.public_url",
            expected: "an http or https URL with no query or fragment, such as https://vigil.hospital.example",
        };
        let url = url::Url::parse(raw).map_err(|_| invalid())?;
        let usable = matches!(url.scheme(), "http" | "https") && url.host().is_some();
        if !usable || url.query().is_some() || url.fragment().is_some() {
            return Err(invalid());
        }
        Ok(url.as_str().trim_end_matches('/').to_owned())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// `iss` of the tokens Vigil signs.
    pub issuer: String,
    /// `aud` of the tokens Vigil signs and accepts.
    pub audience: String,
    /// Lifetime of API access tokens (at most 900).
    pub token_ttl_secs: u64,
    pub session_idle_timeout_secs: u64,
    pub session_absolute_timeout_secs: u64,
    /// How long a break-glass grant lasts.
    pub break_glass_secs: u64,
    pub signing_keys: Vec<crate::auth::keys::SigningKeySetting>,
    /// Roles whose users must sign in with a second factor (TOTP).
    pub mfa_required_roles: Vec<crate::auth::Role>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// A tracing filter such as `info` or `vigil=debug,actix_web=info`; `RUST_LOG` overrides it.
    pub filter: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable on a terminal, JSON otherwise.
    Auto,
    Pretty,
    Json,
}

/// The defaults, written as the TOML a user would write.
const DEFAULTS: &str = r#"
[database]
pool_size = 10
connect_timeout_secs = 5
read_your_writes_secs = 10
remember_reads = true

[server]
host = "127.0.0.1"
port = 8080
workers = 0
shutdown_timeout_secs = 30
max_body_bytes = 1048576
max_fhir_body_bytes = 33554432
max_bundle_entries = 10000
max_import_bytes = 4294967296
trusted_proxies = []
api_requests_per_minute = 12000
api_burst = 400

[auth]
issuer = "vigil"
audience = "vigil-api"
token_ttl_secs = 900
session_idle_timeout_secs = 900
session_absolute_timeout_secs = 43200
break_glass_secs = 14400
signing_keys = []
mfa_required_roles = ["admin", "informatics"]

[audit]
anchor_cron = "0 */5 * * * *"
security_event_window_secs = 60
spool_dir = ".vigil/audit-spool"

[alerts]
group_wait_secs = 30
digest_secs = 3600
max_snooze_hours = 72

[monitoring]
cron = "0 30 3 * * *"
auroc_margin = 0.05
min_events = 20
retrain_cron = ""
retrain_window_days = 365
auto_promote = false
promote_min_auroc_gain = 0.0
promote_burden_band = 0.25
promote_min_events = 20
score_retention_days = 0

[email]
smtp_tls = "starttls"
smtp_pool_size = 4
smtp_timeout_secs = 30
from = "Vigil <vigil@localhost>"
mail_dir = ".vigil/mail"
max_attempts = 8
retry_base_secs = 30
retry_max_secs = 3600
lease_secs = 120
group_interval_secs = 300

[log]
format = "auto"
filter = "info"
"#;

impl Settings {
    /// Loads the settings. `file` is the `--config` flag, which takes precedence over
    /// `VIGIL_CONFIG`; `overrides` are command-line flags as (dotted key, value), which take
    /// precedence over everything and are validated like any other source.
    pub fn load(file: Option<&Path>, overrides: &[(&str, figment::value::Value)]) -> Result<Self, ConfigError> {
        let mut figment = Self::figment(file)?;
        for (key, value) in overrides {
            figment = figment.merge(Serialized::default(key, value.clone()));
        }
        let settings: Self = figment.extract()?;
        settings.auth.validate()?;
        if settings.server.tls_cert_file.is_some() != settings.server.tls_key_file.is_some() {
            return Err(ConfigError::HalfTls);
        }
        Ok(settings)
    }

    fn figment(file: Option<&Path>) -> Result<Figment, ConfigError> {
        let mut figment = Figment::from(Toml::string(DEFAULTS));
        let explicit = file.map(Path::to_path_buf).or_else(|| std::env::var_os("VIGIL_CONFIG").map(PathBuf::from));
        match explicit {
            Some(path) if !path.is_file() => return Err(ConfigError::MissingFile(path)),
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new("vigil.toml").is_file() => figment = figment.merge(Toml::file_exact("vigil.toml")),
            None => {}
        }
        let figment = figment
            // Only section-qualified keys are settings: other VIGIL_ variables (VIGIL_CONFIG, the
            // bootstrap's and tests' own) are not this file's business.
            .merge(Env::prefixed("VIGIL_").filter(|key| key.as_str().contains("__")).split("__"))
            .merge(Env::raw().only(&["DATABASE_URL"]).map(|_| "database.url".into()));
        Ok(figment)
    }

    /// The URL migrations are applied with: `database.migration_url`, else the database URL.
    pub fn migration_url(&self) -> Result<&DatabaseUrl, ConfigError> {
        match &self.database.migration_url {
            Some(url) => Ok(url),
            None => self.database_url(),
        }
    }

    /// The database URL, which every command that touches the database needs.
    pub fn database_url(&self) -> Result<&DatabaseUrl, ConfigError> {
        self.database.url.as_ref().ok_or(ConfigError::Missing {
            key: "DATABASE_URL",
            hint: "set it to postgres://USER@HOST:PORT/DATABASE, or set database.url in the configuration file \
                   (`make run` finds or starts a local Postgres and sets it for you)",
        })
    }
}

impl AuthSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.token_ttl_secs == 0 || self.token_ttl_secs > crate::auth::tokens::MAX_TTL_SECS {
            return Err(ConfigError::OutOfRange { key: "auth.token_ttl_secs", expected: "1 to 900 seconds" });
        }
        if self.session_idle_timeout_secs == 0 || self.session_idle_timeout_secs > self.session_absolute_timeout_secs {
            return Err(ConfigError::OutOfRange {
                key: "auth.session_idle_timeout_secs",
                expected: "more than 0 and at most auth.session_absolute_timeout_secs",
            });
        }
        if self.break_glass_secs == 0 {
            return Err(ConfigError::OutOfRange { key: "auth.break_glass_secs", expected: "more than 0" });
        }
        Ok(())
    }
}

impl DatabaseSettings {
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_secs(self.connect_timeout_secs)
    }
}
