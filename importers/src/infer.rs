//! Inferring a typed schema from the properties of the features in a file.
use onemap_engine::model::{Field, FieldType, Schema, Value};

/// Collects field names (in order of first appearance) and the narrowest type that holds every
/// non-null value seen. Text fields whose every value is an ISO date become dates.
#[derive(Debug, Default)]
pub struct SchemaInference {
    fields: Vec<(String, Option<FieldType>, bool)>,
}

impl SchemaInference {
    /// Start empty.
    pub fn new() -> SchemaInference {
        SchemaInference::default()
    }

    /// A field whose type the file's header declares (no values need to be seen).
    pub fn declare(&mut self, name: &str, ty: FieldType) {
        match self.fields.iter_mut().find(|(n, _, _)| n == name) {
            Some(f) => f.1 = Some(f.1.map_or(ty, |prev| prev.unify(ty))),
            None => self.fields.push((name.to_string(), Some(ty), false)),
        }
    }

    /// Observe one property value.
    pub fn observe(&mut self, name: &str, v: &Value) {
        let i = match self.fields.iter().position(|(n, _, _)| n == name) {
            Some(i) => i,
            None => {
                self.fields.push((name.to_string(), None, true));
                self.fields.len() - 1
            }
        };
        let entry = &mut self.fields[i];
        let Some(t) = FieldType::of(v) else { return };
        // Once a value is not a date, the rest need not be parsed (the parse is most of a pass).
        if entry.2 {
            entry.2 = match v {
                Value::Text(s) => chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").is_ok(),
                _ => false,
            };
        }
        entry.1 = Some(match entry.1 {
            None => t,
            Some(prev) => prev.unify(t),
        });
    }

    /// The schema. Fields that were always null become text.
    pub fn finish(self) -> Result<Schema, onemap_engine::Error> {
        Schema::new(
            self.fields
                .into_iter()
                .map(|(name, ty, all_dates)| {
                    let ty = match ty {
                        None => FieldType::Text,
                        Some(FieldType::Text) if all_dates => FieldType::Date,
                        Some(t) => t,
                    };
                    Field::new(name, ty)
                })
                .collect(),
        )
    }
}

/// A JSON property value as a typed value: integers stay integers, objects and arrays become their
/// JSON text.
pub fn json_to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => n.as_f64().map_or(Value::Null, Value::Float),
        },
        serde_json::Value::String(s) => Value::Text(s.clone()),
        other => Value::Text(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widens_and_detects_dates() {
        let mut s = SchemaInference::new();
        s.observe("n", &Value::Int(1));
        s.observe("n", &Value::Float(1.5));
        s.observe("d", &Value::Text("2024-01-31".into()));
        s.observe("d", &Value::Null);
        s.observe("t", &Value::Text("2024-01-31".into()));
        s.observe("t", &Value::Text("soon".into()));
        s.observe("z", &Value::Null);
        s.observe("m", &Value::Text("2024-01-31".into()));
        s.observe("m", &Value::Int(7));
        let schema = s.finish().unwrap();
        let types: Vec<_> = schema
            .fields()
            .iter()
            .map(|f| (f.name.as_str(), f.ty))
            .collect();
        assert_eq!(
            types,
            vec![
                ("n", FieldType::Float),
                ("d", FieldType::Date),
                ("t", FieldType::Text),
                ("z", FieldType::Text),
                ("m", FieldType::Text)
            ]
        );
    }
}
