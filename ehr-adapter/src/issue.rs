//! Problems found in a resource, each naming the element, and their OperationOutcome.

use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    /// FHIR issue-type code: `required`, `value`, `invalid`, `structure`, `not-supported`,
    /// `conflict` (valid, but the id or the patient it names is held by another source),
    /// `forbidden` (valid, but whoever sent it may not write its type).
    pub code: &'static str,
    /// The element, as a FHIRPath-like path: `Encounter.period.start`.
    pub path: String,
    pub message: String,
}

impl Issue {
    pub fn required(path: impl Into<String>) -> Self {
        let path = path.into();
        Self { code: "required", message: format!("{path} is required"), path }
    }

    pub fn value(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code: "value", path: path.into(), message: message.into() }
    }

    pub fn conflict(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code: "conflict", path: path.into(), message: message.into() }
    }

    pub fn forbidden(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code: "forbidden", path: path.into(), message: message.into() }
    }

    pub fn structure(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { code: "structure", path: path.into(), message: message.into() }
    }
}

/// An OperationOutcome for a rejected resource: one issue per problem, each with its element
/// path, and the origin (file and line, or request and entry) in the diagnostics.
pub fn operation_outcome(issues: &[Issue], origin: &str, location: &str) -> Value {
    let issues: Vec<Value> = issues
        .iter()
        .map(|i| {
            json!({
                "severity": "error",
                "code": i.code,
                "diagnostics": format!("{origin}, {location}: {}", i.message),
                "expression": [i.path],
            })
        })
        .collect();
    json!({ "resourceType": "OperationOutcome", "issue": issues })
}
