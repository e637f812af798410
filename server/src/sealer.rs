//! The background thread every `vigil serve` and `vigil worker` runs for the audit trail: it seals
//! the rows written since it last looked (a few times a second; one sealer at a time across the
//! deployment, by an advisory lock, so the others skip) and, on `audit.anchor_cron`, anchors the
//! chain's head outside the database (see [`crate::anchor`]).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use diesel::{Connection, PgConnection};
use vigil_store::audit;

use crate::anchor::{self, AnchorKey};
use crate::config::{AuditSettings, DatabaseUrl};

/// How often the sealer looks for rows to seal: the most a row stays outside the chain.
const SEAL_EVERY: Duration = Duration::from_millis(250);

/// Where and when anchors are written, with what key.
#[derive(Debug)]
pub struct Anchoring {
    pub key: AnchorKey,
    pub dir: PathBuf,
    schedule: cron::Schedule,
}

impl Anchoring {
    /// None when `audit.anchor_dir` is not set.
    pub fn from_settings(settings: &AuditSettings) -> anyhow::Result<Option<Self>> {
        let Some(dir) = &settings.anchor_dir else { return Ok(None) };
        let key_file = settings
            .anchor_key_file
            .as_ref()
            .context("audit.anchor_dir is set but audit.anchor_key_file is not: anchors must be signed")?;
        let key = AnchorKey::load(key_file)?;
        let schedule = cron::Schedule::from_str(&settings.anchor_cron)
            .with_context(|| format!("audit.anchor_cron: {:?} is not a cron expression", settings.anchor_cron))?;
        Ok(Some(Self { key, dir: dir.clone(), schedule }))
    }

    fn next(&self) -> Option<DateTime<Utc>> {
        self.schedule.upcoming(Utc).next()
    }
}

/// Starts the sealer thread; it reconnects by itself after a database outage.
pub fn spawn(url: &DatabaseUrl, anchoring: Option<Anchoring>) -> std::io::Result<()> {
    let url = url.clone();
    std::thread::Builder::new().name("audit-sealer".into()).spawn(move || {
        let mut conn: Option<PgConnection> = None;
        let mut next_anchor = anchoring.as_ref().and_then(Anchoring::next);
        loop {
            if conn.is_none() {
                conn = PgConnection::establish(url.expose())
                    .inspect_err(|error| tracing::debug!(%error, "audit sealer: database unreachable"))
                    .ok();
            }
            if let Some(c) = conn.as_mut()
                && let Err(error) = audit::seal(c)
            {
                tracing::warn!(%error, "audit sealer: could not seal");
                conn = None;
            }
            if let (Some(c), Some(anchoring), Some(due)) = (conn.as_mut(), &anchoring, next_anchor)
                && due <= Utc::now()
            {
                match anchor::anchor(c, &anchoring.key, &anchoring.dir) {
                    Ok(Some(file)) => tracing::info!(file = %file.display(), "audit chain anchored"),
                    Ok(None) => {}
                    Err(error) => tracing::warn!(%error, "audit chain: could not write an anchor"),
                }
                next_anchor = anchoring.next();
            }
            std::thread::sleep(SEAL_EVERY);
        }
    })?;
    Ok(())
}
