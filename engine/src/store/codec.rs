//! Conversions between onemap values and DuckDB's, and SQL identifier quoting.
use chrono::NaiveDate;
use duckdb::types::Value as Db;

use crate::model::{FieldType, Value};

/// Quote an identifier for DuckDB (names may be Chinese or contain quotes).
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

const EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(1970, 1, 1) {
    Some(d) => d,
    None => panic!("1970-01-01 is a date"),
};

/// Days since 1970-01-01 (DuckDB's and Arrow's DATE).
pub(crate) fn date_to_days(d: NaiveDate) -> i32 {
    (d - EPOCH).num_days() as i32
}

/// A DuckDB value read from a column of type `ty`.
pub(crate) fn from_db(v: Db, ty: FieldType) -> Result<Value, String> {
    Ok(match (ty, v) {
        (_, Db::Null) => Value::Null,
        (FieldType::Bool, Db::Boolean(b)) => Value::Bool(b),
        (FieldType::Int, Db::BigInt(i)) => Value::Int(i),
        (FieldType::Float, Db::Double(f)) => Value::Float(f),
        (FieldType::Text, Db::Text(s)) => Value::Text(s),
        (FieldType::Date, Db::Date32(d)) => EPOCH
            .checked_add_signed(chrono::Duration::days(i64::from(d)))
            .map(Value::Date)
            .ok_or_else(|| format!("date {d} out of range"))?,
        (ty, other) => return Err(format!("expected {ty}, found {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(ident("权利人"), "\"权利人\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn date_round_trip() {
        let d = NaiveDate::from_ymd_opt(2023, 7, 15).unwrap();
        assert_eq!(
            from_db(Db::Date32(date_to_days(d)), FieldType::Date),
            Ok(Value::Date(d))
        );
        let early = NaiveDate::from_ymd_opt(1950, 1, 1).unwrap();
        assert_eq!(
            from_db(Db::Date32(date_to_days(early)), FieldType::Date),
            Ok(Value::Date(early))
        );
    }
}
