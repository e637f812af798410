//! A run's three stages, each on threads of its own: readers read patients' records (each on a
//! connection of its own), a scorer scores them, and the caller's thread stores the scores.
//!
//! Reading is the slowest stage (Postgres finding the rows, this process decoding them), and one
//! reader waits for each round trip in turn, so several read at once: each takes the next chunk's
//! patients in id order under a lock (a quick look-up), then reads their records on its own
//! connection. Chunks may come back out of order; the scorer puts them back in order, so that the
//! run's cursor still moves through the ids in order. Channels hold a chunk per reader, so memory
//! stays at a few chunks whatever the population.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use vigil_store::models::NewScore;

use super::RunError;
use crate::history::History;
use crate::load;

/// A chunk's patients (row ids, in order) and their records.
type Read = QueryResult<(Vec<i64>, Vec<History>)>;
/// A chunk's patients and their scores; no patients once every chunk was read.
type Scored = QueryResult<(Vec<i64>, Vec<NewScore>)>;

/// What a run reads: its patients (a list, or everyone), from after which id, how many a chunk,
/// and the time scored.
pub(super) struct Reading<'l> {
    pub list: Option<&'l [i64]>,
    pub after: i64,
    pub chunk: usize,
    pub as_of: DateTime<Utc>,
}

/// Where the readers are: the last id handed out, the next chunk's number, and whether the end
/// (or an error) was reached.
struct Plan {
    after: i64,
    next: u64,
    done: bool,
}

/// Runs the stages: `score` makes a chunk's rows, `store` stores each chunk in id order (an empty
/// chunk ends the run). Returns what `store` returned first as an error, else Ok.
pub(super) fn run(
    readers: &mut [PgConnection],
    reading: &Reading<'_>,
    score: impl Fn(&[History]) -> Vec<NewScore> + Sync,
    mut store: impl FnMut(Vec<i64>, Vec<NewScore>) -> Result<bool, RunError>,
) -> Result<(), RunError> {
    let plan = Mutex::new(Plan { after: reading.after, next: 0, done: false });
    std::thread::scope(|scope| -> Result<(), RunError> {
        let (to_scorer, from_readers) = sync_channel::<(u64, Read)>(readers.len().max(1));
        let (to_writer, from_scorer) = sync_channel::<Scored>(1);
        for reader in readers.iter_mut() {
            let (to_scorer, plan) = (to_scorer.clone(), &plan);
            scope.spawn(move || read(reader, reading, plan, &to_scorer));
        }
        drop(to_scorer);
        let score = &score;
        scope.spawn(move || {
            in_order(from_readers, |read| to_writer.send(read.map(|(ids, h)| (ids, score(&h)))).is_ok())
        });
        for scored in from_scorer {
            let (ids, rows) = scored?;
            if !store(ids, rows)? {
                break;
            }
        }
        Ok(())
    })
}

/// One reader: takes chunks until the end, an error, or nobody listens.
fn read(reader: &mut PgConnection, reading: &Reading<'_>, plan: &Mutex<Plan>, to_scorer: &SyncSender<(u64, Read)>) {
    loop {
        let (number, ids) = {
            // A reader that panicked holding the plan left it consistent: each field is set once.
            let mut plan = plan.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if plan.done {
                return;
            }
            let number = plan.next;
            plan.next += 1;
            match next_ids(reader, reading.list, plan.after, reading.chunk) {
                Ok(ids) => {
                    match ids.last() {
                        Some(&last) => plan.after = last,
                        None => plan.done = true,
                    }
                    (number, ids)
                }
                Err(error) => {
                    plan.done = true;
                    let _ = to_scorer.send((number, Err(error)));
                    return;
                }
            }
        };
        let last = ids.is_empty();
        let read = if last {
            Ok((ids, Vec::new()))
        } else {
            load::histories(reader, &ids, load::Span::AsOf(reading.as_of)).map(|histories| (ids, histories))
        };
        let failed = read.is_err();
        // The next stage stopped listening (the run failed): stop reading.
        if to_scorer.send((number, read)).is_err() || last || failed {
            return;
        }
    }
}

/// Hands chunks to `next` in the order they were numbered, whatever order they arrive in; stops
/// when `next` says nobody listens any more, or the readers are gone.
fn in_order<T>(from_readers: Receiver<(u64, T)>, mut next: impl FnMut(T) -> bool) {
    let mut waiting = BTreeMap::new();
    let mut expected = 0;
    for (number, chunk) in from_readers {
        waiting.insert(number, chunk);
        while let Some(chunk) = waiting.remove(&expected) {
            if !next(chunk) {
                return;
            }
            expected += 1;
        }
    }
}

/// The next `chunk` patients after `after`: from the run's list, or from everyone.
fn next_ids(conn: &mut PgConnection, list: Option<&[i64]>, after: i64, chunk: usize) -> QueryResult<Vec<i64>> {
    match list {
        None => load::patient_ids(conn, after, chunk as i64),
        Some(list) => Ok(list.iter().copied().filter(|id| *id > after).take(chunk).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_read_out_of_order_are_handed_on_in_order() {
        let (send, receive) = sync_channel(8);
        for number in [1_u64, 0, 3, 2, 4] {
            send.send((number, number)).expect("send");
        }
        drop(send);
        let mut seen = Vec::new();
        in_order(receive, |chunk| {
            seen.push(chunk);
            true
        });
        assert_eq!(seen, vec![0, 1, 2, 3, 4]);
    }
}
