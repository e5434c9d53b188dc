//! Tabular outputs of the analytics: sheets of typed cells written as CSV (one sheet, UTF-8 with a
//! BOM so Excel opens Chinese text) or XLSX (every sheet, via rust_xlsxwriter).
use std::collections::BTreeMap;
use std::path::Path;

use rust_xlsxwriter::{Format, Workbook};

use super::landuse::{LanduseReport, Totals};
use super::violations::{PatchClass, ViolationReport};
use crate::error::{Error, Result};

/// A cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A number (areas are rounded to 0.01 m² when written).
    Number(f64),
    /// An integer.
    Int(i64),
}

impl From<&str> for Cell {
    fn from(s: &str) -> Cell {
        Cell::Text(s.to_string())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Cell {
        Cell::Text(s)
    }
}

impl From<f64> for Cell {
    fn from(v: f64) -> Cell {
        Cell::Number(v)
    }
}

/// One sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    /// Sheet name (≤ 31 characters).
    pub name: String,
    /// Column headers.
    pub columns: Vec<String>,
    /// Rows, each as long as `columns`.
    pub rows: Vec<Vec<Cell>>,
}

fn io_err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Analysis(format!("cannot write {}: {e}", path.display()))
}

/// Text a spreadsheet would run as a formula (`= + - @`, or a tab or carriage return that
/// some importers strip first) gets a leading `'` so it stays text (OWASP's CSV injection rule).
/// Applied to every text cell and header of every CSV and XLSX onemap writes.
pub fn neutralise(s: &str) -> std::borrow::Cow<'_, str> {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{s}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// One sheet as CSV bytes (UTF-8 with a BOM).
pub fn csv_bytes(sheet: &Sheet) -> Result<Vec<u8>> {
    let err = |e: csv::Error| Error::Analysis(format!("CSV: {e}"));
    let mut w = csv::Writer::from_writer("\u{feff}".as_bytes().to_vec());
    let header: Vec<String> = sheet
        .columns
        .iter()
        .map(|c| neutralise(c).into_owned())
        .collect();
    w.write_record(&header).map_err(err)?;
    for row in &sheet.rows {
        let cells: Vec<String> = row
            .iter()
            .map(|c| match c {
                Cell::Text(s) => neutralise(s).into_owned(),
                Cell::Number(v) => format!("{v:.2}"),
                Cell::Int(i) => i.to_string(),
            })
            .collect();
        w.write_record(&cells).map_err(err)?;
    }
    w.into_inner()
        .map_err(|e| Error::Analysis(format!("CSV: {e}")))
}

/// Write one sheet as CSV.
pub fn write_csv(sheet: &Sheet, path: &Path) -> Result<()> {
    std::fs::write(path, csv_bytes(sheet)?).map_err(|e| io_err(path, e))
}

fn workbook(sheets: &[Sheet]) -> std::result::Result<Workbook, rust_xlsxwriter::XlsxError> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();
    let area = Format::new().set_num_format("0.00");
    for s in sheets {
        let ws = wb.add_worksheet();
        ws.set_name(&s.name)?;
        for (c, h) in s.columns.iter().enumerate() {
            ws.write_string_with_format(0, c as u16, neutralise(h), &bold)?;
            ws.set_column_width(c as u16, 14)?;
        }
        for (r, row) in s.rows.iter().enumerate() {
            let r = r as u32 + 1;
            for (c, cell) in row.iter().enumerate() {
                let c = c as u16;
                match cell {
                    Cell::Text(t) => ws.write_string(r, c, neutralise(t)),
                    Cell::Number(v) => ws.write_number_with_format(r, c, *v, &area),
                    Cell::Int(i) => ws.write_number(r, c, *i as f64),
                }?;
            }
        }
    }
    Ok(wb)
}

/// Sheets as XLSX bytes.
pub fn xlsx_bytes(sheets: &[Sheet]) -> Result<Vec<u8>> {
    workbook(sheets)
        .and_then(|mut wb| wb.save_to_buffer())
        .map_err(|e| Error::Analysis(format!("XLSX: {e}")))
}

/// Write sheets as one XLSX workbook.
pub fn write_xlsx(sheets: &[Sheet], path: &Path) -> Result<()> {
    std::fs::write(path, xlsx_bytes(sheets)?).map_err(|e| io_err(path, e))
}

fn totals_sheet(name: &str, key: &str, rows: &BTreeMap<String, Totals>, total: &Totals) -> Sheet {
    let mut out: Vec<Vec<Cell>> = rows
        .iter()
        .map(|(k, t)| {
            vec![
                Cell::Text(k.clone()),
                t.conforming_m2.into(),
                t.conflicting_m2.into(),
                t.unplanned_m2.into(),
                t.total_m2().into(),
            ]
        })
        .collect();
    out.push(vec![
        "合计".into(),
        total.conforming_m2.into(),
        total.conflicting_m2.into(),
        total.unplanned_m2.into(),
        total.total_m2().into(),
    ]);
    Sheet {
        name: name.into(),
        columns: [key, "符合规划_m2", "不符合规划_m2", "无规划_m2", "合计_m2"]
            .map(String::from)
            .to_vec(),
        rows: out,
    }
}

/// Land-use check: pieces, totals by class, totals by admin unit.
pub fn landuse_sheets(r: &LanduseReport) -> Vec<Sheet> {
    let pieces = Sheet {
        name: "图斑".into(),
        columns: [
            "current_fid",
            "现状地类",
            "规划地类",
            "规划单元fid",
            "行政区",
            "符合性",
            "面积_m2",
        ]
        .map(String::from)
        .to_vec(),
        rows: r
            .pieces
            .iter()
            .map(|p| {
                vec![
                    Cell::Int(p.current_fid),
                    p.current_code.as_str().into(),
                    p.planned_code.as_str().into(),
                    p.zone_fid.map_or(Cell::Text(String::new()), Cell::Int),
                    p.admin.as_str().into(),
                    p.conformance.into(),
                    p.area_m2.into(),
                ]
            })
            .collect(),
    };
    vec![
        pieces,
        totals_sheet("按地类汇总", "现状地类", &r.by_class, &r.total),
        totals_sheet("按行政区汇总", "行政区", &r.by_admin, &r.total),
    ]
}

/// Violation detection: patches and the summary by admin unit.
pub fn violation_sheets(r: &ViolationReport) -> Vec<Sheet> {
    // Every patch's keys (a patch that could not be measured has none).
    let zone_ids: Vec<String> = r
        .patches
        .iter()
        .flat_map(|p| p.zones_m2.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let measure_ids: Vec<String> = r
        .patches
        .iter()
        .flat_map(|p| p.measures_m2.keys().cloned())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let mut columns: Vec<String> = [
        "监测编号",
        "行政区",
        "判定",
        "原因",
        "面积_m2",
        "批准面积_m2",
        "超出批准_m2",
        "批准文号",
        "规划符合性",
        "不符合规划_m2",
    ]
    .map(String::from)
    .to_vec();
    columns.extend(zone_ids.iter().map(|z| format!("{z}_m2")));
    columns.extend(measure_ids.iter().cloned());
    let patches = Sheet {
        name: "图斑判定".into(),
        columns,
        rows: r
            .patches
            .iter()
            .map(|p| {
                let mut row: Vec<Cell> = vec![
                    p.id.as_str().into(),
                    p.admin.as_str().into(),
                    p.class.zh().into(),
                    p.reasons.join("；").into(),
                    p.area_m2.into(),
                    p.approved_m2.into(),
                    p.outside_approval_m2.into(),
                    p.permits.join("、").into(),
                    p.plan.as_str().into(),
                    p.plan_nonconforming_m2.into(),
                ];
                row.extend(
                    zone_ids
                        .iter()
                        .map(|z| Cell::Number(p.zones_m2.get(z).copied().unwrap_or(0.0))),
                );
                row.extend(
                    measure_ids
                        .iter()
                        .map(|m| Cell::Number(p.measures_m2.get(m).copied().unwrap_or(0.0))),
                );
                row
            })
            .collect(),
    };
    let mut columns = vec!["行政区".to_string()];
    for c in PatchClass::ALL {
        columns.push(format!("{}_个", c.zh()));
        columns.push(format!("{}_m2", c.zh()));
    }
    let mut rows: Vec<Vec<Cell>> = Vec::new();
    let mut add = |name: &str, m: &BTreeMap<String, super::violations::ClassSummary>| {
        let mut row = vec![Cell::Text(name.to_string())];
        for c in PatchClass::ALL {
            let s = m.get(c.zh()).cloned().unwrap_or_default();
            row.push(Cell::Int(s.count as i64));
            row.push(Cell::Number(s.area_m2));
        }
        rows.push(row);
    };
    for (admin, m) in &r.by_admin {
        add(admin, m);
    }
    add("合计", &r.totals);
    vec![
        patches,
        Sheet {
            name: "按行政区汇总".into(),
            columns,
            rows,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_keeps_formulas_as_text() {
        let sheet = Sheet {
            name: "t".into(),
            columns: vec!["a".into(), "b".into()],
            rows: vec![vec![
                Cell::Text("=HYPERLINK(\"x\")".into()),
                Cell::Number(-1.5),
            ]],
        };
        let text = String::from_utf8(csv_bytes(&sheet).unwrap()).unwrap();
        assert!(text.contains("'=HYPERLINK"), "{text}");
        for bad in ["+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"] {
            assert!(neutralise(bad).starts_with('\''), "{bad:?}");
        }
        assert_eq!(neutralise("普通文本"), "普通文本");
        assert!(text.contains(",-1.50"), "numbers stay numbers: {text}");
        assert!(text.starts_with('\u{feff}'));
    }
}
