//! The relay: part of `vigil worker`, any number at once. Each pass groups due notices into
//! messages, claims due messages and sends them, recording each outcome (see `outbox`).

use std::time::Duration;

use chrono::Utc;
use diesel::PgConnection;
use rand::{Rng, SeedableRng};

use super::message;
use super::outbox;
use super::transport::{EmailSettings, SendError, Transport, TransportError};
use crate::config::DatabaseUrl;
use vigil_store::wake;

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pass {
    pub grouped: usize,
    pub sent: usize,
    pub retrying: usize,
    pub dead: usize,
}

/// How long a retry waits after `attempts` failures: `base` · 2^(attempts − 1), at most `max`,
/// then between 75 % and 125 % of that, so that relays do not retry in step.
pub fn backoff(attempts: i32, base: Duration, max: Duration, rng: &mut impl Rng) -> Duration {
    let exponent = u32::try_from(attempts.saturating_sub(1)).unwrap_or(0).min(30);
    let plain = base.saturating_mul(2_u32.saturating_pow(exponent)).min(max);
    plain.mul_f64(rng.random_range(0.75..=1.25))
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("database: {0}")]
    Database(#[from] diesel::result::Error),
}

/// One pass: group, claim up to `batch` messages, send, record.
pub fn pass(
    conn: &mut PgConnection,
    transport: &Transport,
    settings: &EmailSettings,
    public_url: &str,
    batch: i64,
) -> Result<Pass, RelayError> {
    let mut done =
        Pass { grouped: outbox::group(conn, Duration::from_secs(settings.group_interval_secs))?, ..Pass::default() };
    let claimed = outbox::claim(conn, batch, Duration::from_secs(settings.lease_secs))?;
    // Jitter needs no secrecy, only different seeds in different relays.
    let seed = getrandom::u64().unwrap_or_else(|_| u64::from(std::process::id()));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    // Built one after another on this connection, sent at once over the transport's pooled
    // connections (an SMTP round trip is mostly waiting), recorded one after another.
    let mut built = Vec::with_capacity(claimed.len());
    for claim in claimed {
        let notices = outbox::notices(conn, claim.id)?;
        let message = message::build(claim.id, &claim.recipient, &settings.from, public_url, &notices)
            .map_err(|e| SendError { permanent: true, message: e.to_string() });
        built.push((claim, message));
    }
    let lanes = usize::try_from(settings.smtp_pool_size).unwrap_or(1).clamp(1, 16);
    let per_lane = built.len().div_ceil(lanes).max(1);
    let sent: Vec<(outbox::Claimed, Result<(), SendError>)> = std::thread::scope(|scope| {
        let lanes: Vec<_> = built
            .chunks(per_lane)
            .map(|lane| {
                scope.spawn(move || {
                    lane.iter()
                        .map(|(claim, message)| {
                            // What a send logs names its message (an outbox id, never a patient).
                            let _span = tracing::info_span!("relay_send", message = claim.id).entered();
                            (
                                claim.clone(),
                                message.as_ref().map_err(SendError::clone).and_then(|m| timed_send(transport, m)),
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        // A lane that panicked leaves its messages leased: another pass sends them after the lease.
        lanes.into_iter().flat_map(|lane| lane.join().unwrap_or_default()).collect()
    });
    for (claim, outcome) in sent {
        match outcome {
            Ok(()) => {
                outbox::sent(conn, claim.id)?;
                done.sent += 1;
            }
            Err(error) => {
                let retry_at = (!error.permanent && claim.attempts < settings.max_attempts).then(|| {
                    let wait = backoff(
                        claim.attempts,
                        Duration::from_secs(settings.retry_base_secs),
                        Duration::from_secs(settings.retry_max_secs),
                        &mut rng,
                    );
                    Utc::now() + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX)
                });
                // The error names the server's answer, never the message's content.
                tracing::warn!(message = claim.id, attempts = claim.attempts, error = %error.message, dead = retry_at.is_none(), "email not sent");
                outbox::failed(conn, claim.id, &error.message, retry_at)?;
                if retry_at.is_some() { done.retrying += 1 } else { done.dead += 1 }
            }
        }
    }
    Ok(done)
}

/// Runs passes until the process ends, on its own thread and connection (reopened after a loss),
/// every `every` when idle.
pub fn spawn(
    url: &DatabaseUrl,
    settings: EmailSettings,
    public_url: String,
    every: Duration,
) -> Result<(), RelayStartError> {
    let transport = Transport::from_settings(&settings)?;
    let url = url.clone();
    std::thread::Builder::new().name("email-relay".into()).spawn(move || {
        let mut conn: Option<PgConnection> = None;
        loop {
            if conn.is_none() {
                conn = wake::listening(url.expose(), wake::Channel::Outbox)
                    .inspect_err(|error| tracing::warn!(%error, "email relay: database unreachable"))
                    .ok();
            }
            let busy = match conn.as_mut().map(|c| pass(c, &transport, &settings, &public_url, 50)) {
                Some(Ok(p)) => {
                    if p != Pass::default() {
                        tracing::info!(
                            grouped = p.grouped,
                            sent = p.sent,
                            retrying = p.retrying,
                            dead = p.dead,
                            "relay pass"
                        );
                    }
                    p.sent + p.retrying + p.dead > 0
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "relay pass failed; it will be tried again");
                    conn = None;
                    false
                }
                None => false,
            };
            if !busy {
                // Woken when notices are queued; the poll finds notices whose wait has run out.
                match conn.as_mut().map(|c| wake::wait(c, every)) {
                    Some(Ok(_)) => {}
                    Some(Err(error)) => {
                        tracing::warn!(%error, "email relay: lost the database connection while waiting");
                        conn = None;
                    }
                    None => std::thread::sleep(every),
                }
            }
        }
    })?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum RelayStartError {
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error("starting the relay thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// Sends one message and records how long the attempt took, and whether it was accepted.
fn timed_send(transport: &Transport, message: &lettre::Message) -> Result<(), SendError> {
    let started = std::time::Instant::now();
    let sent = transport.send(message);
    crate::metrics::relay_send(sent.is_ok(), started.elapsed());
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_with_jitter_up_to_the_cap() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let (base, max) = (Duration::from_secs(10), Duration::from_secs(300));
        for (attempts, plain) in [(1, 10.0), (2, 20.0), (3, 40.0), (6, 300.0), (40, 300.0)] {
            let wait = backoff(attempts, base, max, &mut rng).as_secs_f64();
            assert!((plain * 0.75..=plain * 1.25).contains(&wait), "attempt {attempts}: {wait}");
        }
    }
}
