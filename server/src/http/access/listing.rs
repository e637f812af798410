//! What a search returns and how it is audited: one row naming every patient seen in the ordinary
//! way, a flagged row for each seen only under break-glass.

use vigil_store::audit::{AuditEvent, Outcome};

/// What a search found, and the patients whose data it returns, each with whether the searcher
/// sees them only under break-glass.
#[derive(Debug)]
pub struct Found<T> {
    pub value: T,
    pub patients: Vec<(i64, bool)>,
}

/// The audit rows of a search that returned `patients`: one row naming every patient seen in the
/// ordinary way (in `patient_id` when there is one, in `patients` when there are more), and a row
/// of its own, flagged, for each patient seen only under break-glass, so that a reviewer finds
/// those as they find any break-glass access. A search that returned nobody has one row too.
pub(super) fn listing_events(
    mut patients: Vec<(i64, bool)>,
    event: impl Fn(Option<i64>, Outcome, bool) -> AuditEvent,
) -> Vec<AuditEvent> {
    patients.sort_unstable();
    patients.dedup_by_key(|(id, _)| *id);
    let (flagged, seen): (Vec<_>, Vec<_>) = patients.into_iter().partition(|(_, flagged)| *flagged);
    let mut events: Vec<AuditEvent> = flagged.iter().map(|(id, _)| event(Some(*id), Outcome::Success, true)).collect();
    match seen.as_slice() {
        [] if !events.is_empty() => {}
        [] => events.push(event(None, Outcome::Success, false)),
        [(one, _)] => events.push(event(Some(*one), Outcome::Success, false)),
        many => events.push(AuditEvent {
            patients: many.iter().map(|(id, _)| *id).collect(),
            ..event(None, Outcome::Success, false)
        }),
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(patient: Option<i64>, outcome: Outcome, break_glass: bool) -> AuditEvent {
        AuditEvent { patient_id: patient, break_glass, ..AuditEvent::new("user:nurse", "clinician", "search", outcome) }
    }

    #[test]
    fn a_list_is_one_row_naming_its_patients_and_break_glass_views_stand_alone() {
        let rows = listing_events(vec![(3, false), (1, false), (7, true), (3, false), (2, false)], event);
        assert_eq!(rows.len(), 2);
        assert_eq!((rows[0].patient_id, rows[0].break_glass, rows[0].patients.len()), (Some(7), true, 0));
        assert_eq!((rows[1].patient_id, rows[1].patients.clone()), (None, vec![1, 2, 3]));

        let one = listing_events(vec![(5, false)], event);
        assert_eq!((one.len(), one[0].patient_id, one[0].patients.len()), (1, Some(5), 0));
        let nobody = listing_events(Vec::new(), event);
        assert_eq!((nobody.len(), nobody[0].patient_id), (1, None));
        let only_flagged = listing_events(vec![(9, true)], event);
        assert_eq!((only_flagged.len(), only_flagged[0].break_glass), (1, true));
    }
}
