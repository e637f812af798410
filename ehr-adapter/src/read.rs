//! Reading FHIR input: Bulk Data NDJSON (one resource per line, streamed) and Bundles (transaction,
//! batch, collection, searchset), plain or gzip, from files or whole folders.
//!
//! Each resource comes out as an [`Incoming`] that knows where it came from, so a rejected one can
//! be reported by file and line (or entry). Inside a Bundle, `urn:uuid:` full URLs are resolved:
//! every reference to another entry's full URL is rewritten to `Type/id`, and an entry whose
//! resource has no id takes the UUID of its full URL as its id (as Synthea writes them).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One resource as read, or why it could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// The file or request it came from.
    pub origin: String,
    /// Where in it: `line 17`, `entry 3`.
    pub location: String,
    /// The input as received, for the reject list.
    pub raw: String,
    pub resource: Result<Value, String>,
}

impl Incoming {
    /// A resource already parsed (a request body, a page of a pull), keeping its text for rejects.
    pub fn parsed(origin: impl Into<String>, location: impl Into<String>, resource: Value) -> Self {
        Incoming { origin: origin.into(), location: location.into(), raw: resource.to_string(), resource: Ok(resource) }
    }

    /// Resources made in code (seeds, tests, benches), located as `item 0`, `item 1`, ….
    pub fn items(origin: &str, resources: impl IntoIterator<Item = Value>) -> Vec<Self> {
        resources.into_iter().enumerate().map(|(i, r)| Incoming::parsed(origin, format!("item {i}"), r)).collect()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// The FHIR files under `path` (itself, if it is a file), in name order: `*.ndjson`, `*.json`, and
/// either gzipped.
pub fn files(path: &Path) -> Result<Vec<PathBuf>, ReadError> {
    let io = |source| ReadError::Io { path: path.to_owned(), source };
    if !path.is_dir() {
        std::fs::metadata(path).map_err(io)?;
        return Ok(vec![path.to_owned()]);
    }
    let mut found = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let entry = entry.map_err(io)?.path();
        if entry.is_dir() {
            found.extend(files(&entry)?);
        } else if is_fhir_file(&entry) {
            found.push(entry);
        }
    }
    found.sort();
    Ok(found)
}

fn is_fhir_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let name = name.strip_suffix(".gz").unwrap_or(name);
    name.ends_with(".ndjson") || name.ends_with(".json")
}

fn is_ndjson(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    name.strip_suffix(".gz").unwrap_or(name).ends_with(".ndjson")
}

/// Opens a file, decompressing it when its name ends in `.gz`.
pub fn open(path: &Path) -> Result<Box<dyn BufRead + Send>, ReadError> {
    let file = File::open(path).map_err(|source| ReadError::Io { path: path.to_owned(), source })?;
    Ok(if path.extension().is_some_and(|e| e == "gz") {
        Box::new(BufReader::with_capacity(256 * 1024, flate2::read::MultiGzDecoder::new(file)))
    } else {
        Box::new(BufReader::with_capacity(256 * 1024, file))
    })
}

/// The resources of one file, read lazily for NDJSON.
pub fn resources(path: &Path) -> Result<Box<dyn Iterator<Item = Incoming> + Send>, ReadError> {
    let origin = path.display().to_string();
    let reader = open(path)?;
    if is_ndjson(path) {
        Ok(Box::new(ndjson(reader, origin)))
    } else {
        Ok(Box::new(bundle(reader, &origin).into_iter()))
    }
}

/// NDJSON: one resource per line; blank lines are skipped.
pub fn ndjson(reader: impl BufRead + Send, origin: String) -> impl Iterator<Item = Incoming> + Send {
    ndjson_from(reader, origin, 1)
}

/// [`ndjson`] of a part of a body whose first line is line `first_line` of the whole.
pub fn ndjson_from(
    reader: impl BufRead + Send,
    origin: String,
    first_line: i64,
) -> impl Iterator<Item = Incoming> + Send {
    reader.lines().enumerate().filter_map(move |(i, line)| {
        let location = format!("line {}", first_line + i as i64);
        match line {
            Ok(line) if line.trim().is_empty() => None,
            Ok(line) => {
                let resource = crate::json::parse(&line).map_err(|e| format!("not valid JSON: {e}"));
                Some(Incoming { origin: origin.clone(), location, raw: line, resource })
            }
            Err(e) => Some(Incoming {
                origin: origin.clone(),
                location,
                raw: String::new(),
                resource: Err(format!("unreadable: {e}")),
            }),
        }
    })
}

/// A Bundle (or a single resource) from a JSON document.
pub fn bundle(mut reader: impl Read, origin: &str) -> Vec<Incoming> {
    let mut text = String::new();
    if let Err(e) = reader.read_to_string(&mut text) {
        return vec![whole_file_error(origin, String::new(), format!("unreadable: {e}"))];
    }
    let document: Value = match crate::json::parse(&text) {
        Ok(v) => v,
        Err(e) => return vec![whole_file_error(origin, text, format!("not valid JSON: {e}"))],
    };
    if document.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
        return vec![Incoming {
            origin: origin.to_owned(),
            location: "document".into(),
            raw: text,
            resource: Ok(document),
        }];
    }
    bundle_entries(document, origin)
}

fn whole_file_error(origin: &str, raw: String, message: String) -> Incoming {
    Incoming { origin: origin.to_owned(), location: "document".into(), raw, resource: Err(message) }
}

/// The entries of a parsed Bundle, with full-URL references resolved.
pub fn bundle_entries(bundle: Value, origin: &str) -> Vec<Incoming> {
    let Some(entries) = bundle.get("entry").and_then(Value::as_array) else { return Vec::new() };
    // fullUrl -> Type/id for every entry that has both.
    let mut targets: HashMap<String, String> = HashMap::new();
    for entry in entries {
        let (Some(full_url), Some(resource)) = (entry.get("fullUrl").and_then(Value::as_str), entry.get("resource"))
        else {
            continue;
        };
        let Some(resource_type) = resource.get("resourceType").and_then(Value::as_str) else { continue };
        let id = resource.get("id").and_then(Value::as_str).map(str::to_owned).or_else(|| uuid_of(full_url));
        if let Some(id) = id {
            targets.insert(full_url.to_owned(), format!("{resource_type}/{id}"));
        }
    }
    entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let location = format!("entry {i}");
            let raw = entry.to_string();
            let Some(resource) = entry.get("resource") else {
                let method = entry.pointer("/request/method").and_then(Value::as_str).unwrap_or("none");
                return Incoming {
                    origin: origin.to_owned(),
                    location,
                    raw,
                    resource: Err(format!(
                        "entry has no resource (request method {method}); only entries carrying a resource are loaded"
                    )),
                };
            };
            let mut resource = resource.clone();
            if resource.get("id").is_none()
                && let (Some(id), Some(obj)) =
                    (entry.get("fullUrl").and_then(Value::as_str).and_then(uuid_of), resource.as_object_mut())
            {
                obj.insert("id".into(), Value::String(id));
            }
            resolve_references(&mut resource, &targets);
            Incoming { origin: origin.to_owned(), location, raw, resource: Ok(resource) }
        })
        .collect()
}

fn uuid_of(full_url: &str) -> Option<String> {
    full_url.strip_prefix("urn:uuid:").map(str::to_owned)
}

/// Rewrites every `reference` that names another entry's full URL to that entry's `Type/id`.
fn resolve_references(value: &mut Value, targets: &HashMap<String, String>) {
    match value {
        Value::Object(obj) => {
            if let Some(Value::String(reference)) = obj.get_mut("reference")
                && let Some(target) = targets.get(reference.as_str())
            {
                *reference = target.clone();
            }
            for child in obj.values_mut() {
                resolve_references(child, targets);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| resolve_references(v, targets)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bundle_full_urls_become_references_and_ids() {
        let bundle = json!({
            "resourceType": "Bundle", "type": "transaction",
            "entry": [
                { "fullUrl": "urn:uuid:aaaa-1", "resource": { "resourceType": "Patient" }, "request": { "method": "POST", "url": "Patient" } },
                { "fullUrl": "urn:uuid:bbbb-2", "resource": { "resourceType": "Encounter", "id": "e1",
                    "subject": { "reference": "urn:uuid:aaaa-1" }, "partOf": { "reference": "urn:uuid:unknown" } } },
                { "request": { "method": "DELETE", "url": "Patient/x" } }
            ]
        });
        let entries = bundle_entries(bundle, "b.json");
        assert_eq!(entries.len(), 3);
        let patient = entries[0].resource.as_ref().expect("patient");
        assert_eq!(patient["id"], "aaaa-1");
        let encounter = entries[1].resource.as_ref().expect("encounter");
        assert_eq!(encounter["subject"]["reference"], "Patient/aaaa-1");
        assert_eq!(encounter["partOf"]["reference"], "urn:uuid:unknown", "unknown full URLs are left for validation");
        assert_eq!(entries[2].location, "entry 2");
        assert!(entries[2].resource.is_err());
    }

    #[test]
    fn ndjson_lines_keep_their_numbers_and_bad_lines_are_reported() {
        let text =
            "{\"resourceType\":\"Patient\",\"id\":\"a\"}\n\n{not json\n{\"resourceType\":\"Patient\",\"id\":\"b\"}\n";
        let items: Vec<Incoming> = ndjson(text.as_bytes(), "p.ndjson".into()).collect();
        assert_eq!(items.len(), 3);
        assert_eq!(items[1].location, "line 3");
        assert!(items[1].resource.as_ref().err().is_some_and(|e| e.contains("not valid JSON")));
        assert_eq!(items[2].location, "line 4");
    }
}
