use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use super::Value;
use crate::error::Error;

/// Column names starting with this prefix belong to onemap (feature id, geometry, bbox).
pub const RESERVED_PREFIX: &str = "_om_";

/// The type of an attribute column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    /// true/false.
    Bool,
    /// 64-bit integer.
    Int,
    /// 64-bit float.
    Float,
    /// UTF-8 text.
    Text,
    /// Calendar date (ISO-8601 `YYYY-MM-DD` in text form).
    Date,
}

impl FieldType {
    /// The DuckDB column type used to store this field.
    pub fn sql_type(self) -> &'static str {
        match self {
            FieldType::Bool => "BOOLEAN",
            FieldType::Int => "BIGINT",
            FieldType::Float => "DOUBLE",
            FieldType::Text => "VARCHAR",
            FieldType::Date => "DATE",
        }
    }

    /// Stable lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Bool => "bool",
            FieldType::Int => "int",
            FieldType::Float => "float",
            FieldType::Text => "text",
            FieldType::Date => "date",
        }
    }

    /// Convert a value to this type, widening where no information is lost (int → float) and
    /// parsing text where the text is unambiguous (dates, numbers). Errors say why.
    pub fn coerce(self, v: Value) -> Result<Value, String> {
        match (self, v) {
            (_, Value::Null) => Ok(Value::Null),
            (FieldType::Bool, Value::Bool(b)) => Ok(Value::Bool(b)),
            (FieldType::Int, Value::Int(i)) => Ok(Value::Int(i)),
            (FieldType::Int, Value::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                Ok(Value::Int(f as i64))
            }
            (FieldType::Float, Value::Float(f)) => Ok(Value::Float(f)),
            (FieldType::Float, Value::Int(i)) => Ok(Value::Float(i as f64)),
            (FieldType::Text, Value::Text(s)) => Ok(Value::Text(s)),
            (FieldType::Text, other) => Ok(Value::Text(other.to_string())),
            (FieldType::Date, Value::Date(d)) => Ok(Value::Date(d)),
            (FieldType::Date, Value::Text(s)) => parse_date(&s)
                .map(Value::Date)
                .ok_or_else(|| format!("'{s}' is not a date (expected YYYY-MM-DD)")),
            (FieldType::Int, Value::Text(s)) => s
                .trim()
                .parse::<i64>()
                .map(Value::Int)
                .map_err(|_| format!("'{s}' is not an integer")),
            (FieldType::Float, Value::Text(s)) => s
                .trim()
                .parse::<f64>()
                .map(Value::Float)
                .map_err(|_| format!("'{s}' is not a number")),
            (FieldType::Bool, Value::Text(s)) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "t" | "1" | "yes" | "y" => Ok(Value::Bool(true)),
                "false" | "f" | "0" | "no" | "n" => Ok(Value::Bool(false)),
                _ => Err(format!("'{s}' is not a boolean")),
            },
            (t, other) => Err(format!("expected {t}, found {other:?}")),
        }
    }

    /// The narrowest type that holds both `self` and `other` (used when inferring a schema).
    pub fn unify(self, other: FieldType) -> FieldType {
        use FieldType::*;
        match (self, other) {
            (a, b) if a == b => a,
            (Int, Float) | (Float, Int) => Float,
            _ => Text,
        }
    }

    /// The natural type of a value, if it has one (`Null` has none).
    pub fn of(v: &Value) -> Option<FieldType> {
        match v {
            Value::Null => None,
            Value::Bool(_) => Some(FieldType::Bool),
            Value::Int(_) => Some(FieldType::Int),
            Value::Float(_) => Some(FieldType::Float),
            Value::Text(_) => Some(FieldType::Text),
            Value::Date(_) => Some(FieldType::Date),
        }
    }
}

/// Parse an ISO-8601 calendar date (`YYYY-MM-DD`).
pub(crate) fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FieldType {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "bool" | "boolean" => FieldType::Bool,
            "int" | "integer" | "bigint" => FieldType::Int,
            "float" | "double" | "real" | "number" => FieldType::Float,
            "text" | "string" | "varchar" => FieldType::Text,
            "date" => FieldType::Date,
            other => {
                return Err(Error::InvalidSchema(format!(
                    "unknown field type '{other}'"
                )));
            }
        })
    }
}

/// One attribute column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Field {
    /// Column name as the user knows it (may be Chinese).
    pub name: String,
    /// Column type.
    #[serde(rename = "type")]
    pub ty: FieldType,
}

impl Field {
    /// A field.
    pub fn new(name: impl Into<String>, ty: FieldType) -> Self {
        Field {
            name: name.into(),
            ty,
        }
    }
}

/// The typed attribute schema of a layer: an ordered list of uniquely named fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Schema {
    fields: Vec<Field>,
}

impl Schema {
    /// A schema, checked: names non-empty, unique ignoring ASCII case (DuckDB identifiers are
    /// case-insensitive), without control characters and not in onemap's reserved `_om_` namespace.
    pub fn new(fields: Vec<Field>) -> Result<Self, Error> {
        let mut seen = HashSet::new();
        for f in &fields {
            if f.name.trim().is_empty() {
                return Err(Error::InvalidSchema("a field has an empty name".into()));
            }
            if f.name.chars().any(char::is_control) {
                return Err(Error::InvalidSchema(format!(
                    "field name {:?} contains control characters",
                    f.name
                )));
            }
            if f.name.to_ascii_lowercase().starts_with(RESERVED_PREFIX) {
                return Err(Error::InvalidSchema(format!(
                    "field name '{}' uses the reserved prefix '{RESERVED_PREFIX}'",
                    f.name
                )));
            }
            if !seen.insert(f.name.to_lowercase()) {
                return Err(Error::InvalidSchema(format!(
                    "field '{}' appears twice (names are compared ignoring case)",
                    f.name
                )));
            }
        }
        Ok(Schema { fields })
    }

    /// The fields in order.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// True when the schema has no fields.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Position of a field by exact name, falling back to a case-insensitive match.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.fields.iter().position(|f| f.name == name).or_else(|| {
            let lower = name.to_lowercase();
            self.fields
                .iter()
                .position(|f| f.name.to_lowercase() == lower)
        })
    }

    /// The field by name.
    pub fn field(&self, name: &str) -> Option<&Field> {
        self.index_of(name).map(|i| &self.fields[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_duplicates_and_reserved() {
        let dup = Schema::new(vec![
            Field::new("JCBH", FieldType::Text),
            Field::new("jcbh", FieldType::Int),
        ]);
        assert!(matches!(dup, Err(Error::InvalidSchema(m)) if m.contains("twice")));
        let res = Schema::new(vec![Field::new("_om_fid", FieldType::Int)]);
        assert!(matches!(res, Err(Error::InvalidSchema(m)) if m.contains("reserved")));
        let ok = Schema::new(vec![Field::new("权利人", FieldType::Text)]).unwrap();
        assert_eq!(ok.index_of("权利人"), Some(0));
    }

    #[test]
    fn coercion() {
        assert_eq!(
            FieldType::Float.coerce(Value::Int(3)),
            Ok(Value::Float(3.0))
        );
        assert_eq!(FieldType::Int.coerce(Value::Float(3.0)), Ok(Value::Int(3)));
        assert!(FieldType::Int.coerce(Value::Float(3.5)).is_err());
        assert_eq!(
            FieldType::Date.coerce(Value::Text("2024-02-29".into())),
            Ok(Value::Date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()))
        );
        assert!(
            FieldType::Date
                .coerce(Value::Text("2023-02-29".into()))
                .is_err()
        );
        assert_eq!(
            FieldType::Text.coerce(Value::Int(7)),
            Ok(Value::Text("7".into()))
        );
    }

    #[test]
    fn unify_widens() {
        assert_eq!(FieldType::Int.unify(FieldType::Float), FieldType::Float);
        assert_eq!(FieldType::Int.unify(FieldType::Text), FieldType::Text);
        assert_eq!(FieldType::Date.unify(FieldType::Date), FieldType::Date);
    }
}
