//! `make bench` (relay): the email relay's throughput to a local SMTP server (Debian's aiosmtpd,
//! plain SMTP on loopback) beside the limit measured in the same run: a bare lettre client (one
//! pooled transport, four threads, as the relay's four lanes) sending the same messages to the
//! same server.
//!
//! The data comes through the product's paths: a synthetic population (`vigil synth`, `ingest`),
//! an admission model (`train`, `model activate`), `RECIPIENTS` clinicians of every ward with an
//! email address, a rule and a scoring run that queues their notices; then `vigil worker` relays.

#![allow(clippy::print_stdout, clippy::expect_used, clippy::unwrap_used)]

use std::time::Instant;

use diesel::prelude::*;
use lettre::Transport as _;
use vigil_store::testing::TestDb;

mod support;
use support::mail::wait_for;
use support::{count, vigil};

const RECIPIENTS: usize = 300;
const WARDS: [&str; 5] = ["ward-4W", "ward-5E", "ward-6N", "ward-3S", "ward-2P"];

fn main() {
    let db = TestDb::migrated();
    let dir = tempfile::tempdir().expect("tempdir");
    let synth = dir.path().join("synth");
    vigil(&db, &["synth", "--patients", "1000", "--seed", "7", "--out", synth.to_str().unwrap()], "");
    vigil(&db, &["ingest", synth.to_str().unwrap()], "");
    vigil(&db, &["train", "--target", "admission"], "");
    vigil(&db, &["model", "activate", "admission-1"], "");
    for ward in WARDS {
        vigil(&db, &["unit", "add", ward, "--name", ward], "");
    }
    let mut units: Vec<&str> = Vec::new();
    for ward in WARDS {
        units.extend(["--unit", ward]);
    }
    for i in 0..RECIPIENTS {
        let (name, email) = (format!("nurse{i}"), format!("nurse{i}@hospital.example"));
        let mut args =
            vec!["user", "add", name.as_str(), "--role", "clinician", "--email", email.as_str(), "--password-stdin"];
        args.extend(&units);
        vigil(&db, &args, "a long and unusual bench passphrase\n");
    }
    vigil(&db, &["score"], "");
    vigil(&db, &["alert", "rule", "add", "--target", "admission", "--warning", "top10%", "--reason", "bench"], "");
    vigil(&db, &["score"], "");
    let messages = RECIPIENTS as i64;
    assert!(count(&db, "SELECT count(DISTINCT user_id) AS n FROM outbox") == messages, "every nurse has notices");

    let maildir = dir.path().join("maildir");
    let (_smtp, port) = support::mail::smtp(&maildir);

    // The relay: one worker, from its start until every message is recorded as sent.
    let start = Instant::now();
    let _worker = support::mail::relay(&db, port, &[]);
    wait_for("the relay", || count(&db, "SELECT count(*) AS n FROM outbox_messages WHERE status = 'sent'") >= messages);
    let relay_rate = messages as f64 / start.elapsed().as_secs_f64();

    // The limit: the same messages, built by the same code, sent by a bare lettre client.
    let mut conn = db.connect();
    let built: Vec<lettre::Message> = {
        use vigil_store::schema::outbox_messages;
        let ids: Vec<(i64, String)> = outbox_messages::table
            .select((outbox_messages::id, outbox_messages::recipient))
            .order(outbox_messages::id)
            .load(&mut conn)
            .expect("messages");
        ids.into_iter()
            .map(|(id, to)| {
                let notices = vigil::alerts::outbox::notices(&mut conn, id).expect("notices");
                vigil::alerts::message::build(
                    id,
                    &to,
                    "Vigil <vigil@hospital.example>",
                    "https://vigil.example",
                    &notices,
                )
                .expect("message")
            })
            .collect()
    };
    // As many connections at once as the relay uses (email.smtp_pool_size, 4).
    let bare = lettre::SmtpTransport::builder_dangerous("127.0.0.1")
        .port(port)
        .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(4))
        .build();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for lane in built.chunks(built.len().div_ceil(4)) {
            let bare = &bare;
            scope.spawn(move || lane.iter().for_each(|m| bare.send(m).map(|_| ()).expect("bare send")));
        }
    });
    let bare_rate = built.len() as f64 / start.elapsed().as_secs_f64();

    println!(
        "email relay to a local SMTP server (aiosmtpd, plain SMTP on loopback), {messages} messages of one recipient each"
    );
    println!(
        "  vigil worker relay: {relay_rate:>8.1} messages/s (from the worker's start: grouping, claiming, sending, recording; target >= 50/s)"
    );
    println!(
        "  limit: bare lettre client: {bare_rate:>8.1} messages/s (the same messages, one pooled transport, 4 threads)"
    );
    println!("  ratio {:.2}", relay_rate / bare_rate);
}
