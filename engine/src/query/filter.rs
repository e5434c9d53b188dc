//! Attribute filters: an expression tree, a small SQL-like text syntax for `--where`, binding to a
//! layer's schema and evaluation with SQL's three-valued logic (a comparison with NULL is unknown).
use std::cmp::Ordering;
use std::sync::Arc;

use geo::{BoundingRect, Geometry, Intersects, Rect, Relate};

use crate::error::{Error, Result};
use crate::model::{FieldType, Schema, Value};

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `=`
    Eq,
    /// `!=` or `<>`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    fn holds(self, o: Ordering) -> bool {
        match self {
            CmpOp::Eq => o == Ordering::Equal,
            CmpOp::Ne => o != Ordering::Equal,
            CmpOp::Lt => o == Ordering::Less,
            CmpOp::Le => o != Ordering::Greater,
            CmpOp::Gt => o == Ordering::Greater,
            CmpOp::Ge => o != Ordering::Less,
        }
    }
}

/// A spatial predicate of a filter on the feature's geometry (CQL2 `S_INTERSECTS`, `S_WITHIN`,
/// `S_DWITHIN`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SpatialOp {
    /// The geometries share a point.
    Intersects,
    /// The feature lies within the literal.
    Within,
    /// The feature lies within this many metres of the literal (geodesic at city scale).
    DWithin(f64),
}

/// The name of the geometry in filters (CQL2 queryables list it as `geometry`).
pub const GEOMETRY_PROPERTY: &str = "geometry";

/// An attribute filter over field names.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `field op value`
    Compare {
        /// Field name.
        field: String,
        /// Operator.
        op: CmpOp,
        /// Literal.
        value: Value,
    },
    /// `field [NOT] IN (v1, v2, ...)`
    In {
        /// Field name.
        field: String,
        /// Literals.
        values: Vec<Value>,
        /// `NOT IN`.
        negated: bool,
    },
    /// `field [NOT] LIKE 'pattern'` with `%` (any run) and `_` (one character).
    Like {
        /// Field name.
        field: String,
        /// Pattern.
        pattern: String,
        /// `NOT LIKE`.
        negated: bool,
    },
    /// `field IS [NOT] NULL`
    IsNull {
        /// Field name.
        field: String,
        /// `IS NOT NULL`.
        negated: bool,
    },
    /// A spatial predicate on the geometry, with a lon/lat literal.
    Spatial {
        /// The predicate.
        op: SpatialOp,
        /// The literal geometry (lon/lat).
        geometry: Geometry<f64>,
    },
    /// All of.
    And(Vec<Filter>),
    /// Any of.
    Or(Vec<Filter>),
    /// Not.
    Not(Box<Filter>),
}

impl Filter {
    /// `field = value`.
    pub fn eq(field: impl Into<String>, value: Value) -> Filter {
        Filter::Compare {
            field: field.into(),
            op: CmpOp::Eq,
            value,
        }
    }

    /// Parse the text syntax, e.g. `DLBM = '0101' AND area >= 500 AND owner LIKE '张%'`.
    pub fn parse(text: &str) -> Result<Filter> {
        if text.len() > MAX_FILTER_BYTES {
            return Err(Error::Filter(format!(
                "the filter is {} bytes long; at most {MAX_FILTER_BYTES}",
                text.len()
            )));
        }
        let tokens = tokenize(text)?;
        let mut p = Parser {
            tokens,
            pos: 0,
            text,
            depth: 0,
        };
        let f = p.or()?;
        if let Some(t) = p.tokens.get(p.pos) {
            return Err(p.error_at(t.start, "unexpected input after the end of the filter"));
        }
        Ok(f)
    }

    /// Every field name the filter mentions.
    pub fn fields(&self) -> Vec<&str> {
        let mut out = Vec::new();
        self.collect_fields(&mut out);
        out
    }

    fn collect_fields<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Filter::Compare { field, .. }
            | Filter::In { field, .. }
            | Filter::Like { field, .. }
            | Filter::IsNull { field, .. } => out.push(field),
            Filter::And(v) | Filter::Or(v) => v.iter().for_each(|f| f.collect_fields(out)),
            Filter::Not(f) => f.collect_fields(out),
            Filter::Spatial { .. } => {}
        }
    }

    /// Resolve field names against a schema and convert literals to the fields' types.
    pub fn bind(&self, schema: &Schema) -> Result<BoundFilter> {
        let field = |name: &str| -> Result<(usize, FieldType)> {
            let i = schema.index_of(name).ok_or_else(|| {
                let known: Vec<&str> = schema.fields().iter().map(|f| f.name.as_str()).collect();
                Error::Filter(format!(
                    "unknown field '{name}' (fields: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ))
            })?;
            Ok((i, schema.fields()[i].ty))
        };
        let lit = |name: &str, ty: FieldType, v: &Value| -> Result<Value> {
            ty.coerce(v.clone())
                .map_err(|e| Error::Filter(format!("field '{name}' is {ty}: {e}")))
        };
        Ok(match self {
            Filter::Compare {
                field: f,
                op,
                value,
            } => {
                let (i, ty) = field(f)?;
                BoundFilter::Compare(i, *op, lit(f, ty, value)?)
            }
            Filter::In {
                field: f,
                values,
                negated,
            } => {
                let (i, ty) = field(f)?;
                let vals = values
                    .iter()
                    .map(|v| lit(f, ty, v))
                    .collect::<Result<Vec<_>>>()?;
                BoundFilter::In(i, vals, *negated)
            }
            Filter::Like {
                field: f,
                pattern,
                negated,
            } => {
                let (i, _) = field(f)?;
                BoundFilter::Like(i, pattern.chars().collect(), *negated)
            }
            Filter::IsNull { field: f, negated } => BoundFilter::IsNull(field(f)?.0, *negated),
            Filter::And(v) => {
                BoundFilter::And(v.iter().map(|f| f.bind(schema)).collect::<Result<_>>()?)
            }
            Filter::Or(v) => {
                BoundFilter::Or(v.iter().map(|f| f.bind(schema)).collect::<Result<_>>()?)
            }
            Filter::Not(f) => BoundFilter::Not(Box::new(f.bind(schema)?)),
            Filter::Spatial { op, geometry } => {
                BoundFilter::Spatial(Arc::new(SpatialProbe::new(*op, geometry.clone())?))
            }
        })
    }
}

/// A spatial predicate ready to test features: the literal, its bounds (grown by the distance),
/// and for `S_DWITHIN` the literal in a metric frame around it.
pub struct SpatialProbe {
    op: SpatialOp,
    geometry: Geometry<f64>,
    search: Rect<f64>,
    metric: Option<(crate::geometry::MetricFrame, Geometry<f64>)>,
}

impl std::fmt::Debug for SpatialProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpatialProbe")
            .field("op", &self.op)
            .field("search", &self.search)
            .finish()
    }
}

impl SpatialProbe {
    fn new(op: SpatialOp, geometry: Geometry<f64>) -> Result<SpatialProbe> {
        if let Some(reason) = crate::geometry::check_lonlat(&geometry) {
            return Err(Error::Filter(format!("spatial literal: {reason}")));
        }
        let bounds = geometry
            .bounding_rect()
            .ok_or_else(|| Error::Filter("spatial literal: empty geometry".into()))?;
        let (search, metric) = match op {
            SpatialOp::DWithin(m) => {
                if !(m.is_finite() && m >= 0.0) {
                    return Err(Error::Filter(format!(
                        "S_DWITHIN distance must be a number of metres ≥ 0, not {m}"
                    )));
                }
                let frame = crate::geometry::MetricFrame::around(&geometry)?;
                let projected = frame.project(&geometry)?;
                (
                    crate::geometry::expand_rect_by_metres(bounds, m),
                    Some((frame, projected)),
                )
            }
            _ => (bounds, None),
        };
        Ok(SpatialProbe {
            op,
            geometry,
            search,
            metric,
        })
    }

    /// The lon/lat box a matching feature's bounds must meet (R-tree pre-filter).
    pub fn search_rect(&self) -> Rect<f64> {
        self.search
    }

    fn test(&self, g: &Geometry<f64>) -> bool {
        let Some(b) = g.bounding_rect() else {
            return false;
        };
        if !b.intersects(&self.search) {
            return false;
        }
        match self.op {
            SpatialOp::Intersects => g.intersects(&self.geometry),
            SpatialOp::Within => g.relate(&self.geometry).is_within(),
            SpatialOp::DWithin(m) => match &self.metric {
                Some((frame, projected)) => frame.distance_to(projected, g).is_ok_and(|d| d <= m),
                None => false,
            },
        }
    }
}

/// A filter bound to a schema: field positions and typed literals.
#[derive(Debug, Clone)]
pub enum BoundFilter {
    /// Comparison.
    Compare(usize, CmpOp, Value),
    /// Membership.
    In(usize, Vec<Value>, bool),
    /// Pattern match (chars of the pattern).
    Like(usize, Vec<char>, bool),
    /// Null test.
    IsNull(usize, bool),
    /// Conjunction.
    And(Vec<BoundFilter>),
    /// Disjunction.
    Or(Vec<BoundFilter>),
    /// Negation.
    Not(Box<BoundFilter>),
    /// A spatial predicate on the geometry.
    Spatial(Arc<SpatialProbe>),
}

impl BoundFilter {
    /// Does a row pass? (Unknown counts as no, as in SQL `WHERE`; a spatial predicate without a
    /// geometry is unknown.)
    pub fn matches(&self, row: &[Value]) -> bool {
        self.eval(row, None) == Some(true)
    }

    /// Does a feature (its properties and geometry) pass?
    pub fn matches_feature(&self, row: &[Value], geometry: &Geometry<f64>) -> bool {
        self.eval(row, Some(geometry)) == Some(true)
    }

    /// The spatial predicates every match must satisfy (those under AND only), for an index
    /// pre-filter.
    pub fn required_probes(&self) -> Vec<&SpatialProbe> {
        match self {
            BoundFilter::Spatial(p) => vec![p.as_ref()],
            BoundFilter::And(v) => v.iter().flat_map(|f| f.required_probes()).collect(),
            _ => Vec::new(),
        }
    }

    fn eval(&self, row: &[Value], geom: Option<&Geometry<f64>>) -> Option<bool> {
        match self {
            BoundFilter::Spatial(p) => geom.map(|g| p.test(g)),
            BoundFilter::Compare(i, op, v) => row[*i].compare(v).map(|o| op.holds(o)),
            BoundFilter::In(i, vals, neg) => {
                let x = &row[*i];
                if x.is_null() {
                    return None;
                }
                if vals.iter().any(|v| x.compare(v) == Some(Ordering::Equal)) {
                    return Some(!*neg);
                }
                // SQL: `x IN (1, NULL)` is unknown, not false, when x is not 1.
                if vals.iter().any(Value::is_null) {
                    return None;
                }
                Some(*neg)
            }
            BoundFilter::Like(i, pat, neg) => {
                let s = match &row[*i] {
                    Value::Null => return None,
                    Value::Text(s) => s.clone(),
                    other => other.to_string(),
                };
                let chars: Vec<char> = s.chars().collect();
                Some(like(&chars, pat) != *neg)
            }
            BoundFilter::IsNull(i, neg) => Some(row[*i].is_null() != *neg),
            BoundFilter::And(v) => {
                let mut unknown = false;
                for f in v {
                    match f.eval(row, geom) {
                        Some(false) => return Some(false),
                        None => unknown = true,
                        Some(true) => {}
                    }
                }
                if unknown { None } else { Some(true) }
            }
            BoundFilter::Or(v) => {
                let mut unknown = false;
                for f in v {
                    match f.eval(row, geom) {
                        Some(true) => return Some(true),
                        None => unknown = true,
                        Some(false) => {}
                    }
                }
                if unknown { None } else { Some(false) }
            }
            BoundFilter::Not(f) => f.eval(row, geom).map(|b| !b),
        }
    }
}

/// SQL LIKE: `%` matches any run of characters, `_` exactly one. Iterative with backtracking to the
/// last `%`, so it is linear-ish and cannot blow the stack.
fn like(s: &[char], p: &[char]) -> bool {
    let (mut si, mut pi) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '_' || (p[pi] != '%' && p[pi] == s[si])) {
            si += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '%' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '%' {
        pi += 1;
    }
    pi == p.len()
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    Op(&'static str),
    LParen,
    RParen,
    Comma,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
}

fn tokenize(text: &str) -> Result<Vec<Token>> {
    let mut out = Vec::new();
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut i = 0;
    let err = |pos: usize, msg: &str| {
        Error::Filter(format!(
            "{msg} at character {} of {text:?}",
            text[..pos].chars().count() + 1
        ))
    };
    while i < chars.len() {
        let (pos, c) = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Token {
                    tok: Tok::LParen,
                    start: pos,
                });
                i += 1;
            }
            ')' => {
                out.push(Token {
                    tok: Tok::RParen,
                    start: pos,
                });
                i += 1;
            }
            ',' => {
                out.push(Token {
                    tok: Tok::Comma,
                    start: pos,
                });
                i += 1;
            }
            '=' => {
                out.push(Token {
                    tok: Tok::Op("="),
                    start: pos,
                });
                i += 1;
            }
            '!' | '<' | '>' => {
                let next = chars.get(i + 1).map(|x| x.1);
                let (op, n) = match (c, next) {
                    ('!', Some('=')) => ("!=", 2),
                    ('<', Some('>')) => ("!=", 2),
                    ('<', Some('=')) => ("<=", 2),
                    ('>', Some('=')) => (">=", 2),
                    ('<', _) => ("<", 1),
                    ('>', _) => (">", 1),
                    _ => return Err(err(pos, "expected '=' after '!'")),
                };
                out.push(Token {
                    tok: Tok::Op(op),
                    start: pos,
                });
                i += n;
            }
            '\'' | '"' => {
                // 'text' is a string literal; "name" is a quoted field name. A doubled quote escapes.
                let q = c;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(err(pos, "unterminated quote")),
                        Some((_, ch)) if *ch == q => {
                            if chars.get(i + 1).map(|x| x.1) == Some(q) {
                                s.push(q);
                                i += 2;
                            } else {
                                i += 1;
                                break;
                            }
                        }
                        Some((_, ch)) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Token {
                    tok: if q == '\'' {
                        Tok::Str(s)
                    } else {
                        Tok::Ident(s)
                    },
                    start: pos,
                });
            }
            c if c.is_ascii_digit()
                || ((c == '-' || c == '+' || c == '.')
                    && chars
                        .get(i + 1)
                        .is_some_and(|x| x.1.is_ascii_digit() || x.1 == '.')) =>
            {
                let mut s = String::new();
                while let Some((_, ch)) = chars.get(i) {
                    if ch.is_ascii_alphanumeric() || matches!(ch, '.' | '-' | '+' | '_') {
                        s.push(*ch);
                        i += 1;
                    } else {
                        break;
                    }
                }
                out.push(Token {
                    tok: Tok::Num(s),
                    start: pos,
                });
            }
            c if c.is_alphanumeric() || c == '_' => {
                let mut s = String::new();
                while let Some((_, ch)) = chars.get(i) {
                    if ch.is_alphanumeric() || *ch == '_' || *ch == '.' || *ch == '-' {
                        s.push(*ch);
                        i += 1;
                    } else {
                        break;
                    }
                }
                out.push(Token {
                    tok: Tok::Ident(s),
                    start: pos,
                });
            }
            other => return Err(err(pos, &format!("unexpected character {other:?}"))),
        }
    }
    Ok(out)
}

/// Longest filter text accepted (filters come from HTTP requests).
pub const MAX_FILTER_BYTES: usize = 8192;

/// Deepest nesting of NOT and parentheses: parsing, binding and evaluation recurse, and a
/// request must not be able to overflow a server thread's stack.
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    text: &'a str,
    depth: usize,
}

impl Parser<'_> {
    fn error_at(&self, byte: usize, msg: &str) -> Error {
        let col = self.text[..byte.min(self.text.len())].chars().count() + 1;
        Error::Filter(format!("{msg} at character {col} of {:?}", self.text))
    }

    fn error_here(&self, msg: &str) -> Error {
        match self.tokens.get(self.pos) {
            Some(t) => self.error_at(t.start, msg),
            None => Error::Filter(format!("{msg} at the end of {:?}", self.text)),
        }
    }

    fn keyword(&mut self, kw: &str) -> bool {
        if let Some(Token {
            tok: Tok::Ident(s), ..
        }) = self.tokens.get(self.pos)
            && s.eq_ignore_ascii_case(kw)
        {
            self.pos += 1;
            return true;
        }
        false
    }

    fn expect(&mut self, t: Tok, what: &str) -> Result<()> {
        if self.tokens.get(self.pos).map(|x| &x.tok) == Some(&t) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error_here(&format!("expected {what}")))
        }
    }

    fn or(&mut self) -> Result<Filter> {
        let mut v = vec![self.and()?];
        while self.keyword("OR") {
            v.push(self.and()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Filter::Or(v)
        })
    }

    fn and(&mut self) -> Result<Filter> {
        let mut v = vec![self.not()?];
        while self.keyword("AND") {
            v.push(self.not()?);
        }
        Ok(if v.len() == 1 {
            v.remove(0)
        } else {
            Filter::And(v)
        })
    }

    fn deeper(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_here(&format!("nested more than {MAX_DEPTH} levels deep")));
        }
        Ok(())
    }

    fn not(&mut self) -> Result<Filter> {
        if self.keyword("NOT") {
            self.deeper()?;
            let inner = self.not()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Filter> {
        if self.tokens.get(self.pos).map(|t| &t.tok) == Some(&Tok::LParen) {
            self.pos += 1;
            self.deeper()?;
            let f = self.or()?;
            self.depth -= 1;
            self.expect(Tok::RParen, "')'")?;
            return Ok(f);
        }
        let field = match self.tokens.get(self.pos).map(|t| t.tok.clone()) {
            Some(Tok::Ident(s)) => s,
            _ => return Err(self.error_here("expected a field name")),
        };
        self.pos += 1;
        if self.tokens.get(self.pos).map(|t| &t.tok) == Some(&Tok::LParen) {
            let op = match field.to_ascii_uppercase().as_str() {
                "S_INTERSECTS" => SpatialOp::Intersects,
                "S_WITHIN" => SpatialOp::Within,
                "S_DWITHIN" => SpatialOp::DWithin(0.0),
                _ => {
                    return Err(self.error_here(&format!(
                        "unknown function {field}(...) (spatial functions: S_INTERSECTS, S_WITHIN, S_DWITHIN)"
                    )));
                }
            };
            return self.spatial(op);
        }
        if self.keyword("IS") {
            let negated = self.keyword("NOT");
            if !self.keyword("NULL") {
                return Err(self.error_here("expected NULL"));
            }
            return Ok(Filter::IsNull { field, negated });
        }
        let negated = self.keyword("NOT");
        if self.keyword("IN") {
            self.expect(Tok::LParen, "'(' after IN")?;
            let mut values = vec![self.literal()?];
            while self.tokens.get(self.pos).map(|t| &t.tok) == Some(&Tok::Comma) {
                self.pos += 1;
                values.push(self.literal()?);
            }
            self.expect(Tok::RParen, "')' to close the IN list")?;
            return Ok(Filter::In {
                field,
                values,
                negated,
            });
        }
        if self.keyword("LIKE") {
            return match self.literal()? {
                Value::Text(pattern) => Ok(Filter::Like {
                    field,
                    pattern,
                    negated,
                }),
                _ => Err(self.error_here("LIKE needs a quoted pattern")),
            };
        }
        if self.keyword("BETWEEN") {
            let lo = self.literal()?;
            if !self.keyword("AND") {
                return Err(self.error_here("expected AND in BETWEEN"));
            }
            let hi = self.literal()?;
            let f = Filter::And(vec![
                Filter::Compare {
                    field: field.clone(),
                    op: CmpOp::Ge,
                    value: lo,
                },
                Filter::Compare {
                    field,
                    op: CmpOp::Le,
                    value: hi,
                },
            ]);
            return Ok(if negated { Filter::Not(Box::new(f)) } else { f });
        }
        if negated {
            return Err(self.error_here("expected IN, LIKE or BETWEEN after NOT"));
        }
        let op = match self.tokens.get(self.pos).map(|t| t.tok.clone()) {
            Some(Tok::Op(op)) => op,
            _ => {
                return Err(self
                    .error_here("expected an operator (=, !=, <, <=, >, >=, IN, LIKE, IS NULL)"));
            }
        };
        self.pos += 1;
        let op = match op {
            "=" => CmpOp::Eq,
            "!=" => CmpOp::Ne,
            "<" => CmpOp::Lt,
            "<=" => CmpOp::Le,
            ">" => CmpOp::Gt,
            _ => CmpOp::Ge,
        };
        let value = self.literal()?;
        Ok(Filter::Compare { field, op, value })
    }

    /// `S_...(geometry, <WKT or BBOX(...)>[, distance[, unit]])`, after the function name.
    fn spatial(&mut self, op: SpatialOp) -> Result<Filter> {
        self.expect(Tok::LParen, "'('")?;
        match self.tokens.get(self.pos).map(|t| t.tok.clone()) {
            Some(Tok::Ident(p)) if p.eq_ignore_ascii_case(GEOMETRY_PROPERTY) => self.pos += 1,
            _ => {
                return Err(self.error_here(&format!(
                    "expected the geometry property '{GEOMETRY_PROPERTY}'"
                )));
            }
        }
        self.expect(Tok::Comma, "','")?;
        let geometry = self.geometry_literal()?;
        let op = if let SpatialOp::DWithin(_) = op {
            self.expect(Tok::Comma, "',' and a distance in metres")?;
            let d = match self.tokens.get(self.pos).map(|t| t.tok.clone()) {
                Some(Tok::Num(n)) => n
                    .parse::<f64>()
                    .map_err(|_| self.error_here("expected a distance in metres"))?,
                _ => return Err(self.error_here("expected a distance in metres")),
            };
            self.pos += 1;
            if self.tokens.get(self.pos).map(|t| &t.tok) == Some(&Tok::Comma) {
                self.pos += 1;
                let unit = match self.tokens.get(self.pos).map(|t| t.tok.clone()) {
                    Some(Tok::Ident(u) | Tok::Str(u)) => u.to_ascii_lowercase(),
                    _ => String::new(),
                };
                if !matches!(unit.as_str(), "m" | "meters" | "metres" | "meter" | "metre") {
                    return Err(self.error_here("the only distance unit is metres ('meters')"));
                }
                self.pos += 1;
            }
            SpatialOp::DWithin(d)
        } else {
            op
        };
        self.expect(Tok::RParen, "')' to close the spatial function")?;
        Ok(Filter::Spatial { op, geometry })
    }

    /// A WKT geometry (`POLYGON((...))`, `POINT(...)`, ...) or `BBOX(w, s, e, n)`, lon/lat.
    fn geometry_literal(&mut self) -> Result<Geometry<f64>> {
        let start_tok = self.pos;
        let (start, name) = match self.tokens.get(self.pos) {
            Some(Token {
                tok: Tok::Ident(n),
                start,
            }) => (*start, n.to_ascii_uppercase()),
            _ => return Err(self.error_here("expected a geometry (WKT or BBOX(...))")),
        };
        self.pos += 1;
        if self.tokens.get(self.pos).map(|t| &t.tok) != Some(&Tok::LParen) {
            return Err(self.error_here("expected '(' in the geometry"));
        }
        let mut depth = 0usize;
        let mut end = None;
        while let Some(t) = self.tokens.get(self.pos) {
            match t.tok {
                Tok::LParen => depth += 1,
                Tok::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(t.start + 1);
                        self.pos += 1;
                        break;
                    }
                }
                _ => {}
            }
            self.pos += 1;
        }
        let Some(end) = end else {
            return Err(self.error_at(start, "unclosed geometry"));
        };
        if name == "BBOX" || name == "ENVELOPE" {
            let nums: Vec<f64> = self.tokens[start_tok + 2..self.pos - 1]
                .iter()
                .filter_map(|t| match &t.tok {
                    Tok::Num(n) => n.parse().ok(),
                    _ => None,
                })
                .collect();
            let [w, s, e, n] = nums[..] else {
                return Err(
                    self.error_at(start, "BBOX needs four numbers: west, south, east, north")
                );
            };
            if w > e || s > n {
                return Err(self.error_at(start, "BBOX has west > east or south > north"));
            }
            return Ok(Geometry::Rect(Rect::new(
                geo::coord! { x: w, y: s },
                geo::coord! { x: e, y: n },
            )));
        }
        let wkt = &self.text[start..end];
        crate::geometry::nesting::check_wkt(wkt, crate::geometry::nesting::MAX_DEPTH)
            .map_err(|e| self.error_at(start, &e))?;
        use geozero::ToGeo;
        geozero::wkt::Wkt(wkt)
            .to_geo()
            .map_err(|e| self.error_at(start, &format!("invalid WKT geometry ({e})")))
    }

    fn literal(&mut self) -> Result<Value> {
        let t = self
            .tokens
            .get(self.pos)
            .cloned()
            .ok_or_else(|| self.error_here("expected a value"))?;
        self.pos += 1;
        Ok(match t.tok {
            Tok::Str(s) => Value::Text(s),
            // A number keeps its exact text: binding converts it to the field's type, so
            // `code = 0101` or a 20-digit parcel number still matches a text field exactly, and
            // `area > 1.5` parses as a number for a numeric one.
            Tok::Num(n) => Value::Text(n),
            Tok::Ident(s) if s.eq_ignore_ascii_case("true") => Value::Bool(true),
            Tok::Ident(s) if s.eq_ignore_ascii_case("false") => Value::Bool(false),
            Tok::Ident(s) if s.eq_ignore_ascii_case("null") => Value::Null,
            // CQL2 temporal literals: DATE('2024-05-01'), TIMESTAMP('...'); binding converts.
            Tok::Ident(s)
                if (s.eq_ignore_ascii_case("date") || s.eq_ignore_ascii_case("timestamp"))
                    && self.tokens.get(self.pos).map(|t| &t.tok) == Some(&Tok::LParen) =>
            {
                self.pos += 1;
                let v = match self.tokens.get(self.pos).map(|t| t.tok.clone()) {
                    Some(Tok::Str(d)) => d,
                    _ => return Err(self.error_here("expected a quoted date")),
                };
                self.pos += 1;
                self.expect(Tok::RParen, "')'")?;
                Value::Text(v)
            }
            // A bare word is text: `--where kind=RQ` means kind = 'RQ'.
            Tok::Ident(s) => Value::Text(s),
            _ => {
                self.pos -= 1;
                return Err(self.error_here("expected a value"));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let nots = format!("{}a = 1", "NOT ".repeat(2000));
        assert!(matches!(Filter::parse(&nots), Err(Error::Filter(_))));
        let parens = format!("{}a = 1{}", "(".repeat(1000), ")".repeat(1000));
        assert!(matches!(Filter::parse(&parens), Err(Error::Filter(_))));
        let ok = format!("{}a = 1{}", "(".repeat(10), ")".repeat(10));
        assert!(Filter::parse(&ok).is_ok());
        assert!(
            Filter::parse(&"a = 1 OR ".repeat(2000)).is_err(),
            "too long"
        );
    }
    use crate::model::Field;

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("DLBM", FieldType::Text),
            Field::new("area", FieldType::Float),
            Field::new("floors", FieldType::Int),
            Field::new("权利人", FieldType::Text),
        ])
        .unwrap()
    }

    fn row(dlbm: &str, area: f64, floors: Option<i64>, owner: &str) -> Vec<Value> {
        vec![
            Value::Text(dlbm.into()),
            Value::Float(area),
            floors.map_or(Value::Null, Value::Int),
            Value::Text(owner.into()),
        ]
    }

    fn check(expr: &str, r: &[Value]) -> bool {
        Filter::parse(expr)
            .unwrap()
            .bind(&schema())
            .unwrap()
            .matches(r)
    }

    #[test]
    fn comparisons_and_logic() {
        let r = row("0101", 600.0, Some(3), "张三");
        assert!(check("DLBM = '0101'", &r));
        assert!(check("DLBM = 0101", &r), "leading-zero codes stay text");
        assert!(check("area >= 500 AND floors < 4", &r));
        assert!(!check("area > 600", &r));
        assert!(check("area > 700 OR floors = 3", &r));
        assert!(check("NOT (floors != 3)", &r));
        assert!(check("DLBM IN ('0102', '0101')", &r));
        assert!(check("DLBM NOT IN ('0102')", &r));
        assert!(check("权利人 LIKE '张%'", &r));
        assert!(check("权利人 LIKE '_三'", &r));
        assert!(!check("权利人 LIKE '李%'", &r));
        assert!(check("area BETWEEN 500 AND 600", &r));
        assert!(check("floors <> 2", &r));
    }

    #[test]
    fn null_is_unknown() {
        let r = row("0101", 1.0, None, "x");
        assert!(!check("floors = 3", &r));
        assert!(!check("floors != 3", &r));
        assert!(!check("NOT (floors = 3)", &r), "NOT unknown is unknown");
        assert!(check("floors IS NULL", &r));
        assert!(!check("floors IS NOT NULL", &r));
        assert!(check("floors = 3 OR area = 1", &r));
        let r3 = row("0101", 1.0, Some(2), "x");
        assert!(!check("floors NOT IN (1, NULL)", &r3), "unknown, as in SQL");
        assert!(!check("floors IN (1, NULL)", &r3));
        assert!(check("floors IN (2, NULL)", &r3));
    }

    #[test]
    fn numbers_keep_their_text_for_text_fields() {
        let r = row("41018410100100100001", 1.5, Some(2), "x");
        assert!(check("DLBM = 41018410100100100001", &r));
        assert!(check("area = 1.50", &r));
        assert!(check("floors = 2", &r));
        let r = row("1.50", 1.5, Some(2), "x");
        assert!(check("DLBM = 1.50", &r));
        assert!(!check("DLBM = 1.5", &r));
    }

    #[test]
    fn errors_say_where() {
        let e = Filter::parse("area >= ").unwrap_err().to_string();
        assert!(e.contains("expected a value") && e.contains("end"), "{e}");
        let e = Filter::parse("area >= 5 junk").unwrap_err().to_string();
        assert!(e.contains("character 11"), "{e}");
        let e = Filter::parse("owner = 'x").unwrap_err().to_string();
        assert!(e.contains("unterminated"), "{e}");
        let e = Filter::parse("nosuch = 1")
            .unwrap()
            .bind(&schema())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("unknown field 'nosuch'") && e.contains("DLBM"),
            "{e}"
        );
        let e = Filter::parse("floors = 'abc'")
            .unwrap()
            .bind(&schema())
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an integer"), "{e}");
    }

    #[test]
    fn like_matcher() {
        let m = |s: &str, p: &str| {
            like(
                &s.chars().collect::<Vec<_>>(),
                &p.chars().collect::<Vec<_>>(),
            )
        };
        assert!(m("abc", "a%"));
        assert!(m("abc", "%c"));
        assert!(m("abc", "a_c"));
        assert!(m("abc", "%%"));
        assert!(!m("abc", "a_"));
        assert!(m("", "%"));
        assert!(!m("", "_"));
        assert!(m("aaab", "%a%b"));
    }

    #[test]
    fn cql2_spatial_functions_and_positions() {
        use geo::{Geometry, polygon};
        let f = Filter::parse(
            "DLBM LIKE '07%' AND S_INTERSECTS(geometry, POLYGON((113.0 34.0, 113.01 34.0, 113.01 34.01, 113.0 34.0)))",
        )
        .unwrap();
        let Filter::And(parts) = &f else {
            panic!("{f:?}")
        };
        assert!(matches!(
            parts[1],
            Filter::Spatial {
                op: SpatialOp::Intersects,
                ..
            }
        ));
        let b = f.bind(&schema()).unwrap();
        let inside = Geometry::Polygon(
            polygon![(x: 113.001, y: 34.001), (x: 113.002, y: 34.001), (x: 113.002, y: 34.002)],
        );
        let outside = Geometry::Polygon(
            polygon![(x: 113.1, y: 34.1), (x: 113.2, y: 34.1), (x: 113.2, y: 34.2)],
        );
        let r = row("0701", 1.0, None, "x");
        assert!(b.matches_feature(&r, &inside));
        assert!(!b.matches_feature(&r, &outside));
        // Without a geometry the spatial part is unknown: nothing passes.
        assert!(!b.matches(&r));
        // S_WITHIN and S_DWITHIN in metres (0.001° of latitude is ~111 m).
        let w = Filter::parse("S_WITHIN(geometry, BBOX(113.0, 34.0, 113.01, 34.01))")
            .unwrap()
            .bind(&schema())
            .unwrap();
        assert!(w.matches_feature(&r, &inside) && !w.matches_feature(&r, &outside));
        let p = Geometry::Point(geo::point!(x: 113.0, y: 34.001));
        let near = |m: &str| {
            Filter::parse(&format!(
                "S_DWITHIN(geometry, POINT(113.0 34.0), {m}, meters)"
            ))
            .unwrap()
            .bind(&schema())
            .unwrap()
            .matches_feature(&r, &p)
        };
        assert!(near("112") && !near("110"));
        // Temporal literals and NOT over a spatial predicate.
        assert!(
            Filter::parse("NOT S_INTERSECTS(geometry, POINT(1 2)) OR DLBM = DATE('2024-01-01')")
                .is_ok()
        );
        // Errors say where.
        let e = |t: &str| Filter::parse(t).unwrap_err().to_string();
        assert!(
            e("S_INTERSECTS(geom, POINT(1 2))").contains("at character 14"),
            "{}",
            e("S_INTERSECTS(geom, POINT(1 2))")
        );
        assert!(
            e("S_INTERSECTS(geometry, POLYGON((1 2, 3 4)")
                .contains("unclosed geometry at character 24"),
            "{}",
            e("S_INTERSECTS(geometry, POLYGON((1 2, 3 4)")
        );
        assert!(
            e("S_INTERSECTS(geometry, POLYGON((1 2, 3 4))")
                .contains("')' to close the spatial function at the end")
        );
        assert!(e("S_CROSSES(geometry, POINT(1 2))").contains("unknown function"));
        assert!(e("S_DWITHIN(geometry, POINT(1 2), 5, feet)").contains("metres"));
        assert!(e("S_INTERSECTS(geometry, BBOX(3, 0, 1, 1))").contains("west > east"));
        assert!(e("S_INTERSECTS(geometry, POLYGON((a b)))").contains("invalid WKT"));
        assert!(e("DLBM = 'x' AND").contains("at the end"));
        assert!(
            Filter::parse("S_INTERSECTS(geometry, POINT(500 2))")
                .unwrap()
                .bind(&schema())
                .is_err()
        );
    }
}
