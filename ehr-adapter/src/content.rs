//! The identity of a resource's content: SHA-256 over its canonical JSON (object keys sorted, no
//! insignificant whitespace), leaving out `meta.versionId` and `meta.lastUpdated`, which a sender
//! may change without changing the content.

use serde_json::Value;
use sha2::{Digest, Sha256};

pub fn hash(resource: &Value) -> [u8; 32] {
    let mut canonical = resource.clone();
    if let Some(meta) = canonical.get_mut("meta").and_then(Value::as_object_mut) {
        meta.remove("versionId");
        meta.remove("lastUpdated");
        if meta.is_empty()
            && let Some(obj) = canonical.as_object_mut()
        {
            obj.remove("meta");
        }
    }
    // serde_json's maps are ordered by key (no `preserve_order`), so this is canonical.
    Sha256::digest(canonical.to_string().as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn key_order_whitespace_and_version_metadata_do_not_change_the_hash() {
        let a: serde_json::Value =
            serde_json::from_str(r#"{"resourceType":"Patient","id":"1","gender":"female"}"#).expect("json");
        let b: serde_json::Value =
            serde_json::from_str(r#"{ "gender" : "female", "id":"1", "resourceType":"Patient", "meta": {"versionId": "7", "lastUpdated": "2025-01-01T00:00:00Z"} }"#)
                .expect("json");
        assert_eq!(super::hash(&a), super::hash(&b));
        let c = json!({ "resourceType": "Patient", "id": "1", "gender": "male" });
        assert_ne!(super::hash(&a), super::hash(&c));
        let profiled =
            json!({ "resourceType": "Patient", "id": "1", "gender": "female", "meta": { "profile": ["x"] } });
        assert_ne!(super::hash(&a), super::hash(&profiled), "other metadata is content");
    }
}
