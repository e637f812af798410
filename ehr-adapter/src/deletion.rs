//! Deleting a resource: a tombstone version becomes current and its mapped row goes, recorded and
//! audited like any other write.

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::BigInt;
use vigil_store::audit::AuditEvent;
use vigil_store::models::{JsonText, NewRawResource};
use vigil_store::schema::{
    conditions, encounters, medication_requests, observations, patients, procedures, raw_resources,
};

use crate::ingest::IngestError;
use crate::{content, identity};

/// What a deletion came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Deletion {
    /// Deleted: the tombstone is this version.
    Deleted {
        version: i32,
    },
    /// Deleted before (the tombstone is this version): nothing changed.
    AlreadyDeleted {
        version: i32,
    },
    NotFound,
    /// A Patient whose other resources are still stored: delete those first.
    StillReferenced {
        resources: i64,
    },
    /// Another source holds this type and id: only that source changes it.
    HeldElsewhere {
        source_system: String,
    },
}

/// Deletes a resource: a tombstone version becomes current, and its mapped row goes (a Patient's
/// row turns back into a placeholder, so that nothing referring to it breaks). The patient's
/// change is recorded and audited like any other write, in one transaction.
pub fn delete(
    conn: &mut PgConnection,
    source_system: &str,
    audit: &AuditEvent,
    resource_type: &str,
    id: &str,
) -> Result<Deletion, IngestError> {
    Ok(conn.transaction(|conn| {
        identity::lock(conn, &[(resource_type, id)])?;
        let key = raw_resources::table
            .filter(raw_resources::resource_type.eq(resource_type).and(raw_resources::fhir_id.eq(id)));
        let current: Option<(i64, String, i32, bool)> = key
            .filter(raw_resources::superseded_at.is_null())
            .select((raw_resources::id, raw_resources::source_system, raw_resources::version, raw_resources::deleted))
            .first(conn)
            .optional()?;
        let Some((row, holder, version, deleted)) = current else { return Ok(Deletion::NotFound) };
        if holder != source_system {
            return Ok(Deletion::HeldElsewhere { source_system: holder });
        }
        if deleted {
            return Ok(Deletion::AlreadyDeleted { version });
        }
        let latest: Option<i32> = key.select(diesel::dsl::max(raw_resources::version)).first(conn)?;
        macro_rules! remove {
            ($t:ident) => {
                diesel::delete($t::table.filter($t::source_system.eq(source_system).and($t::fhir_id.eq(id))))
                    .returning($t::patient_id)
                    .get_result::<i64>(conn)
                    .optional()?
            };
        }
        let patient = match resource_type {
            "Patient" => {
                let Some(patient) = patients::table
                    .filter(patients::source_system.eq(source_system).and(patients::fhir_id.eq(id)))
                    .select(patients::id)
                    .first::<i64>(conn)
                    .optional()?
                else {
                    return Ok(Deletion::NotFound);
                };
                let resources: i64 = diesel::sql_query(
                    "SELECT (SELECT count(*) FROM encounters WHERE patient_id = $1) \
                     + (SELECT count(*) FROM conditions WHERE patient_id = $1) \
                     + (SELECT count(*) FROM observations WHERE patient_id = $1) \
                     + (SELECT count(*) FROM medication_requests WHERE patient_id = $1) \
                     + (SELECT count(*) FROM procedures WHERE patient_id = $1) AS n",
                )
                .bind::<BigInt, _>(patient)
                .get_result::<ReferenceCount>(conn)?
                .n;
                if resources > 0 {
                    return Ok(Deletion::StillReferenced { resources });
                }
                diesel::sql_query(
                    "UPDATE patients SET version = 0, content_hash = NULL, source_version_id = NULL, \
                     source_last_updated = NULL, mrn = NULL, identifiers = '[]', family_name = NULL, \
                     given_names = NULL, birth_date = NULL, sex = NULL, race_code = NULL, race_display = NULL, \
                     ethnicity_code = NULL, ethnicity_display = NULL, deceased = FALSE, deceased_at = NULL, \
                     postal_code = NULL, stored_at = now() WHERE id = $1",
                )
                .bind::<BigInt, _>(patient)
                .execute(conn)?;
                Some(patient)
            }
            "Encounter" => remove!(encounters),
            "Condition" => remove!(conditions),
            "Observation" => remove!(observations),
            "MedicationRequest" => remove!(medication_requests),
            "Procedure" => remove!(procedures),
            _ => None,
        };
        let now = Utc::now();
        diesel::update(raw_resources::table.find(row)).set(raw_resources::superseded_at.eq(now)).execute(conn)?;
        let tombstone = serde_json::json!({ "resourceType": resource_type, "id": id });
        let version = latest.unwrap_or(version) + 1;
        diesel::insert_into(raw_resources::table)
            .values(NewRawResource {
                source_system: source_system.to_owned(),
                resource_type: resource_type.to_owned(),
                fhir_id: id.to_owned(),
                version,
                source_version_id: None,
                source_last_updated: None,
                content_hash: content::hash(&tombstone).to_vec(),
                content: JsonText::of(&tombstone),
                superseded_at: None,
                deleted: true,
            })
            .execute(conn)?;
        if let Some(patient) = patient {
            let event = AuditEvent {
                patient_id: Some(patient),
                action: "delete".into(),
                resource_type: Some(resource_type.to_owned()),
                resource_id: Some(id.to_owned()),
                ..audit.clone()
            };
            vigil_store::audit::append(conn, &event)?;
            // Last: it holds the change feed's lock until the commit.
            vigil_store::changes::record(conn, &[patient])?;
        }
        Ok::<_, diesel::result::Error>(Deletion::Deleted { version })
    })?)
}

#[derive(QueryableByName)]
struct ReferenceCount {
    #[diesel(sql_type = BigInt)]
    n: i64,
}
