//! `POST /fhir` with a Bundle: a transaction (every entry stored, or none) or a batch (each entry
//! on its own), answered with a response Bundle of each entry's outcome.

// The Bundle handler shares the single-resource writes' parsing, storing and answering helpers.
use super::*;

fn status_line(change: Change) -> &'static str {
    match change {
        Change::Created => "201 Created",
        _ => "200 OK",
    }
}

/// All issues of several OperationOutcomes in one.
fn merged(outcomes: impl Iterator<Item = Value>) -> Value {
    let issues: Vec<Value> =
        outcomes.flat_map(|o| o.get("issue").and_then(Value::as_array).cloned().unwrap_or_default()).collect();
    json!({ "resourceType": "OperationOutcome", "issue": issues })
}

/// A transaction's attempt to store all its entries, undone when the store refused any.
enum Attempt {
    Refused(Vec<Incoming>),
    Failed(ingest::IngestError),
}

impl From<diesel::result::Error> for Attempt {
    fn from(e: diesel::result::Error) -> Self {
        Self::Failed(e.into())
    }
}

impl From<ingest::IngestError> for Attempt {
    fn from(e: ingest::IngestError) -> Self {
        Self::Failed(e)
    }
}

/// Stores a transaction's entries all or nothing: Err with the merged OperationOutcome when any
/// was refused, in which case only the refused entries are kept (in the reject list, so that the
/// sender can find them).
fn store_transaction(
    conn: &mut PgConnection,
    audit: &AuditEvent,
    items: Vec<Incoming>,
) -> Result<Result<Stored, Value>, Rejection<Fhir>> {
    // Invalid entries are found without storing; an entry the store refuses (an id another
    // source holds) only by trying, so the attempt is undone if any is refused.
    let mut bad: Vec<Incoming> = items.iter().filter(|i| problems(i).is_some()).cloned().collect();
    if bad.is_empty() {
        let attempt = conn.transaction(|conn| {
            let stored = ingest::store(conn, PUSH_SOURCE, audit, items.clone())?;
            let refused: Vec<Incoming> = stored
                .fates
                .iter()
                .zip(&items)
                .filter(|(fate, _)| matches!(fate, Fate::Rejected { .. }))
                .map(|(_, item)| item.clone())
                .collect();
            if refused.is_empty() { Ok(stored) } else { Err(Attempt::Refused(refused)) }
        });
        match attempt {
            Ok(stored) => {
                crate::metrics::ingested(&stored.summary);
                return Ok(Ok(stored));
            }
            Err(Attempt::Refused(refused)) => bad = refused,
            Err(Attempt::Failed(e)) => return Err(Rejection::fault(&e)),
        }
    }
    let stored = ingest::store(conn, PUSH_SOURCE, audit, bad).map_err(|e| Rejection::fault(&e))?;
    crate::metrics::ingested(&stored.summary);
    let outcomes = stored.fates.into_iter().filter_map(|f| match f {
        Fate::Rejected { outcome } => Some(outcome),
        Fate::Accepted { .. } => None,
    });
    Ok(Err(merged(outcomes)))
}

enum BundleOutcome {
    /// A transaction with invalid entries: nothing stored but the rejects.
    Refused(Value),
    /// Stored; the answer is a transaction-response (true) or a batch-response.
    Stored(Stored, Vec<Option<StoredVersion>>, bool),
}

#[post("/fhir")]
pub async fn bundle(
    req: HttpRequest,
    guard: Guard<Fhir>,
    payload: web::Payload,
) -> Result<HttpResponse, Rejection<Fhir>> {
    guard.check_write(Declared::Any).await?;
    let bytes = read_body(&req, payload).await?;
    let max_entries = Limits::of(&req).bundle_entries;
    let origin = origin(&guard, "POST /fhir");
    let outcome = guard
        .write(Declared::Any, move |conn, scope| {
            let document = parse_json(&bytes)?;
            if document.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
                return Err(Rejection::bad_request("POST /fhir takes a Bundle of type transaction or batch"));
            }
            let transaction = match document.get("type").and_then(Value::as_str) {
                Some("transaction") => true,
                Some("batch") => false,
                other => {
                    return Err(Rejection::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "unprocessable",
                        format!("Bundle.type must be transaction or batch, not {}", other.unwrap_or("missing")),
                    ));
                }
            };
            let entries = document.get("entry").and_then(Value::as_array).map_or(0, Vec::len);
            if entries > max_entries {
                return Err(Rejection::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_large",
                    format!("the Bundle has {entries} entries; at most {max_entries} (server.max_bundle_entries)"),
                ));
            }
            let items = bundle_entries(document, &origin);
            scope.require(&types_of(&items))?;
            let audit = &scope.audit;
            let stored = if transaction {
                match store_transaction(conn, audit, items)? {
                    Ok(stored) => stored,
                    Err(outcome) => return Ok(BundleOutcome::Refused(outcome)),
                }
            } else {
                let stored = ingest::store(conn, PUSH_SOURCE, audit, items).map_err(|e| Rejection::fault(&e))?;
                crate::metrics::ingested(&stored.summary);
                stored
            };
            let versions = stored_versions(conn, &stored.fates).map_err(|e| Rejection::fault(&e))?;
            Ok(BundleOutcome::Stored(stored, versions, transaction))
        })
        .await?;
    let (stored, versions, transaction) = match outcome {
        BundleOutcome::Refused(outcome) => return Ok(fhir_json(StatusCode::BAD_REQUEST, &outcome)),
        BundleOutcome::Stored(stored, versions, transaction) => (stored, versions, transaction),
    };
    let base = base(&req);
    let entries: Vec<Value> = stored
        .fates
        .into_iter()
        .zip(versions)
        .map(|(fate, version)| match (fate, version) {
            (Fate::Accepted { resource_type, id, change, version }, Some((content, received))) => json!({
                "fullUrl": format!("{base}/{resource_type}/{id}"),
                "resource": served(content, version, received),
                "response": {
                    "status": status_line(change),
                    "location": format!("{resource_type}/{id}/_history/{version}"),
                    "etag": etag(version),
                    "lastModified": instant(received),
                },
            }),
            (fate, _) => {
                let outcome = match fate {
                    Fate::Rejected { outcome } => outcome,
                    Fate::Accepted { .. } => json!({ "resourceType": "OperationOutcome", "issue": [] }),
                };
                let status = refusal_status(&outcome);
                let line = format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or_default());
                json!({ "response": { "status": line, "outcome": outcome } })
            }
        })
        .collect();
    let kind = if transaction { "transaction-response" } else { "batch-response" };
    Ok(fhir_json(StatusCode::OK, &json!({ "resourceType": "Bundle", "type": kind, "entry": entries })))
}
