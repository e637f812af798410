//! FHIR references: `Type/id`, absolute `http(s)://server/.../Type/id`, and, inside Bundles,
//! `urn:uuid:` full URLs that name another entry of the same Bundle.

/// The resource a reference points to, once resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub resource_type: String,
    pub id: String,
}

/// Parses a literal reference of the form `Type/id` or `.../Type/id[/_history/n]`.
pub fn parse(reference: &str) -> Option<Target> {
    let path = reference.split(['?', '#']).next()?;
    let path = match path.find("/_history/") {
        Some(i) => &path[..i],
        None => path,
    };
    let mut parts = path.rsplit('/');
    let id = parts.next()?;
    let resource_type = parts.next()?;
    let valid_type = resource_type.starts_with(|c: char| c.is_ascii_uppercase())
        && resource_type.chars().all(|c| c.is_ascii_alphabetic());
    (valid_type && is_valid_id(id)).then(|| Target { resource_type: resource_type.to_owned(), id: id.to_owned() })
}

/// A FHIR logical id: 1 to 64 of `A-Z a-z 0-9 - .`.
pub fn is_valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_references() {
        let t = |ty: &str, id: &str| Some(Target { resource_type: ty.into(), id: id.into() });
        assert_eq!(parse("Patient/pt-1"), t("Patient", "pt-1"));
        assert_eq!(parse("https://ehr.example/fhir/Encounter/e.2/_history/3"), t("Encounter", "e.2"));
        assert_eq!(parse("Patient"), None);
        assert_eq!(parse("patient/1"), None);
        assert_eq!(parse("Patient/has space"), None);
        assert_eq!(parse("urn:uuid:8cb45f80-834b-4f32-b3fb-d0917aed88b2"), None);
    }
}
