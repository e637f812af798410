//! The audit trail as CSV, for `vigil audit export` and the portal's audit viewer: one header,
//! and cells a spreadsheet shows as text. Patients are named by their FHIR id.

use vigil_store::audit::search::Found;

pub const HEADER: [&str; 14] = [
    "seq",
    "time_utc",
    "actor",
    "role",
    "action",
    "resource_type",
    "resource_id",
    "patient",
    "data_category",
    "outcome",
    "source_address",
    "request_id",
    "break_glass",
    "detail",
];

/// Writes one audit row in [`HEADER`]'s order.
pub fn write_row<W: std::io::Write>(csv: &mut csv::Writer<W>, r: &Found) -> csv::Result<()> {
    let cells = [
        r.seq.to_string(),
        r.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        r.actor.clone(),
        r.actor_role.clone(),
        r.action.clone(),
        r.resource_type.clone().unwrap_or_default(),
        r.resource_id.clone().unwrap_or_default(),
        r.patient.clone().unwrap_or_default(),
        r.data_category.clone().unwrap_or_default(),
        r.outcome.clone(),
        r.source_address.clone().unwrap_or_default(),
        r.request_id.clone().unwrap_or_default(),
        r.break_glass.to_string(),
        r.detail.clone().unwrap_or_default(),
    ];
    csv.write_record(cells.iter().map(|cell| spreadsheet_safe(cell).into_owned()))
}

/// A cell a spreadsheet will show as text: one that starts like a formula (`=`, `+`, `-`, `@`, a
/// tab or a carriage return) gets a leading apostrophe, so that an account name or an id a client
/// chose cannot run when a privacy officer opens the export (OWASP's CSV injection advice).
fn spreadsheet_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::spreadsheet_safe;

    #[test]
    fn cells_that_look_like_formulas_are_defused() {
        for cell in ["=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(spreadsheet_safe(cell), format!("'{cell}"));
        }
        for cell in ["user:nurse", "2026-12-02T10:00:00Z", "", "p-1"] {
            assert_eq!(spreadsheet_safe(cell), cell);
        }
    }
}
