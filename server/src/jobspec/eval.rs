//! Expression evaluation: HCL expressions to JSON values, plus the typed
//! conversions the decoders use.
//!
//! Deliberately small. Literals, lists, objects, parentheses, arithmetic,
//! comparisons, conditionals, `var.*` / `local.*` references and string
//! templates are evaluated; function calls, `for` expressions, splats and
//! template directives are rejected with a message saying so.
//!
//! Runtime references survive untouched, as in Nomad: anything rooted at a
//! name other than `var` or `local` (`${NOMAD_PORT_http}`, `${attr.kernel.name}`,
//! `${meta.rack}`, `${env["HOME"]}`) is interpolated by the client when the
//! task starts, so the parser must hand it on as literal text. Nomad does the
//! same with its "undefined variable" hook; a bare `meta.rack` outside quotes
//! becomes `"${meta.rack}"` there too. A lone unquoted word (`driver =
//! raw_exec`) is an error instead: it is a string someone forgot to quote
//! far more often than a reference to a runtime variable.

use std::collections::BTreeMap;

use drover_api::Nanos;
use hcl::expr::{
    BinaryOperator, Conditional, Operation, TemplateExpr, Traversal, TraversalOperator,
    UnaryOperator,
};
use hcl::{Expression, ObjectKey};
use serde_json::{Map, Number, Value};

use super::error::{JobspecErrorKind as Kind, Path};
use super::{parse_go_duration, JobspecError};

type Result<T> = std::result::Result<T, JobspecError>;

/// The names an expression can refer to: input variables (`var.x`) and
/// locals (`local.x`), both already evaluated.
#[derive(Debug, Default)]
pub(super) struct Scope {
    pub(super) vars: BTreeMap<String, Value>,
    pub(super) locals: BTreeMap<String, Value>,
}

impl Scope {
    /// Evaluates `expr` to a JSON value.
    pub(super) fn eval(&self, path: &Path, expr: &Expression) -> Result<Value> {
        match expr {
            Expression::Null => Ok(Value::Null),
            Expression::Bool(b) => Ok(Value::Bool(*b)),
            Expression::Number(n) => json_number(path, n),
            Expression::String(s) => Ok(Value::String(s.clone())),
            Expression::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| self.eval(&path.index(i), item))
                .collect::<Result<Vec<_>>>()
                .map(Value::Array),
            Expression::Object(object) => {
                let mut out = Map::new();
                for (key, value) in object.iter() {
                    let key = self.object_key(path, key)?;
                    let value = self.eval(&path.key(&key), value)?;
                    out.insert(key, value);
                }
                Ok(Value::Object(out))
            }
            Expression::TemplateExpr(template) => {
                let (raw, quoted) = match template.as_ref() {
                    TemplateExpr::QuotedString(raw) => (raw.as_str(), true),
                    TemplateExpr::Heredoc(heredoc) => (heredoc.template.as_str(), false),
                };
                self.render_template(path, raw, quoted).map(Value::String)
            }
            Expression::Variable(root) => match root.as_str() {
                "var" | "local" => Err(path.err(Kind::Variable(format!(
                    "`{}` must be followed by a name, as in `{}.name`",
                    root.as_str(),
                    root.as_str()
                )))),
                // Nomad's parser reports a lone word with its position
                // ("Variables not allowed"); the caller adds the position.
                word => Err(path.err(Kind::BareWord {
                    word: word.to_owned(),
                    at: None,
                })),
            },
            Expression::Traversal(traversal) => self.eval_traversal(path, traversal),
            Expression::Parenthesis(inner) => self.eval(path, inner),
            Expression::Conditional(cond) => self.eval_conditional(path, cond),
            Expression::Operation(op) => self.eval_operation(path, op),
            Expression::FuncCall(call) => Err(path.err(Kind::Unsupported(format!(
                "function calls are not supported yet: {}(...)",
                call.name.name.as_str()
            )))),
            Expression::ForExpr(_) => Err(path.err(Kind::Unsupported(
                "`for` expressions are not supported yet".to_owned(),
            ))),
            _ => Err(path.err(Kind::Unsupported(
                "this kind of expression is not supported yet".to_owned(),
            ))),
        }
    }

    fn object_key(&self, path: &Path, key: &ObjectKey) -> Result<String> {
        match key {
            ObjectKey::Identifier(ident) => Ok(ident.as_str().to_owned()),
            ObjectKey::Expression(expr) => match self.eval(path, expr)? {
                Value::String(s) => Ok(s),
                Value::Number(n) => Ok(n.to_string()),
                Value::Bool(b) => Ok(b.to_string()),
                other => Err(path.err(Kind::Type {
                    expected: "a string object key",
                    got: type_name(&other),
                })),
            },
            _ => Err(path.err(Kind::Unsupported(
                "this kind of object key is not supported".to_owned(),
            ))),
        }
    }

    fn eval_traversal(&self, path: &Path, traversal: &Traversal) -> Result<Value> {
        let ops = traversal.operators.as_slice();
        let (mut value, rest) = match &traversal.expr {
            Expression::Variable(root) if matches!(root.as_str(), "var" | "local") => {
                let Some(TraversalOperator::GetAttr(name)) = ops.first() else {
                    return Err(path.err(Kind::Variable(format!(
                        "`{}` must be followed by a name, as in `{}.name`",
                        root.as_str(),
                        root.as_str()
                    ))));
                };
                (self.lookup(path, root.as_str(), name.as_str())?, &ops[1..])
            }
            Expression::Variable(root) => {
                let text = runtime_reference(path, root.as_str(), ops)?;
                return Ok(Value::String(format!("${{{text}}}")));
            }
            base => (self.eval(path, base)?, ops),
        };
        for op in rest {
            value = self.apply_operator(path, value, op)?;
        }
        Ok(value)
    }

    fn lookup(&self, path: &Path, scope: &str, name: &str) -> Result<Value> {
        let (table, what) = if scope == "var" {
            (&self.vars, "variable")
        } else {
            (&self.locals, "local")
        };
        table.get(name).cloned().ok_or_else(|| {
            path.err(Kind::Variable(format!(
                "unknown {what} `{scope}.{name}`; declare it with a `{}` block",
                if scope == "var" {
                    format!("variable \"{name}\"")
                } else {
                    "locals".to_owned()
                }
            )))
        })
    }

    fn apply_operator(&self, path: &Path, value: Value, op: &TraversalOperator) -> Result<Value> {
        let found = match (op, &value) {
            (TraversalOperator::GetAttr(name), Value::Object(map)) => map.get(name.as_str()),
            (TraversalOperator::LegacyIndex(i), Value::Array(items)) => {
                usize::try_from(*i).ok().and_then(|i| items.get(i))
            }
            (TraversalOperator::Index(index), _) => {
                let index = self.eval(path, index)?;
                match (&value, &index) {
                    (Value::Array(items), Value::Number(n)) => n
                        .as_u64()
                        .and_then(|i| usize::try_from(i).ok())
                        .and_then(|i| items.get(i)),
                    (Value::Object(map), Value::String(key)) => map.get(key),
                    _ => {
                        return Err(path.err(Kind::Invalid(format!(
                            "cannot index {} with {}",
                            type_name(&value),
                            type_name(&index)
                        ))))
                    }
                }
            }
            (TraversalOperator::AttrSplat | TraversalOperator::FullSplat, _) => {
                return Err(path.err(Kind::Unsupported(
                    "splat expressions (`[*]`) are not supported yet".to_owned(),
                )))
            }
            (TraversalOperator::GetAttr(name), _) => {
                return Err(path.err(Kind::Invalid(format!(
                    "cannot read attribute `{}` of {}",
                    name.as_str(),
                    type_name(&value)
                ))))
            }
            _ => return Err(path.err(Kind::Invalid(format!("cannot index {}", type_name(&value))))),
        };
        found
            .cloned()
            .ok_or_else(|| path.err(Kind::Invalid("no such element or attribute".to_owned())))
    }

    fn eval_conditional(&self, path: &Path, cond: &Conditional) -> Result<Value> {
        let test = self.eval(path, &cond.cond_expr)?;
        if to_bool(path, test)? {
            self.eval(path, &cond.true_expr)
        } else {
            self.eval(path, &cond.false_expr)
        }
    }

    fn eval_operation(&self, path: &Path, op: &Operation) -> Result<Value> {
        match op {
            Operation::Unary(unary) => {
                let value = self.eval(path, &unary.expr)?;
                match unary.operator {
                    UnaryOperator::Not => Ok(Value::Bool(!to_bool(path, value)?)),
                    UnaryOperator::Neg => match to_num(path, value)? {
                        Num::Int(i) => i
                            .checked_neg()
                            .map(Value::from)
                            .ok_or_else(|| path.err(Kind::OutOfRange(format!("-({i})")))),
                        Num::Float(f) => float(path, -f),
                    },
                }
            }
            Operation::Binary(binary) => {
                let lhs = self.eval(path, &binary.lhs_expr)?;
                // `&&` and `||` short-circuit, as in HCL.
                match binary.operator {
                    BinaryOperator::And if !to_bool(path, lhs.clone())? => {
                        return Ok(Value::Bool(false))
                    }
                    BinaryOperator::Or if to_bool(path, lhs.clone())? => {
                        return Ok(Value::Bool(true))
                    }
                    _ => {}
                }
                let rhs = self.eval(path, &binary.rhs_expr)?;
                binary_op(path, binary.operator, lhs, rhs)
            }
        }
    }

    /// Renders a template's raw text: escapes decoded, `$${` and `%%{`
    /// unescaped, `${...}` that mention `var`/`local` evaluated, every other
    /// interpolation kept verbatim for the client. Heredocs (`quoted ==
    /// false`) have no backslash escapes in HCL.
    fn render_template(&self, path: &Path, raw: &str, quoted: bool) -> Result<String> {
        let bytes = raw.as_bytes();
        let mut out = String::with_capacity(raw.len());
        let mut i = 0;
        let mut literal_start = 0;
        // `i` steps one byte at a time, but slices are only taken where it
        // sits on an ASCII byte (`\`, `$`, `%`, or the `}` that
        // `closing_brace` found); in UTF-8 those are always char boundaries,
        // so no slice below can panic on multi-byte text.
        while i < bytes.len() {
            let rest = &bytes[i..];
            let (text, consumed): (std::borrow::Cow<'_, str>, usize) = if quoted && rest[0] == b'\\'
            {
                let (decoded, len) = decode_escape(path, &raw[i..])?;
                (decoded.to_string().into(), len)
            } else if rest.starts_with(b"$${") {
                ("${".into(), 3)
            } else if rest.starts_with(b"%%{") {
                ("%{".into(), 3)
            } else if rest.starts_with(b"${") {
                let end = closing_brace(bytes, i + 2).ok_or_else(|| {
                    path.err(Kind::Invalid("unterminated `${` in string".to_owned()))
                })?;
                (
                    self.interpolate(path, &raw[i + 2..end])?.into(),
                    end + 1 - i,
                )
            } else if rest.starts_with(b"%{") {
                return Err(path.err(Kind::Unsupported(
                    "template directives (`%{ if }`, `%{ for }`) are not supported yet".to_owned(),
                )));
            } else {
                i += 1;
                continue;
            };
            out.push_str(&raw[literal_start..i]);
            out.push_str(&text);
            i += consumed;
            literal_start = i;
        }
        out.push_str(&raw[literal_start..]);
        Ok(out)
    }

    /// The text for one `${inner}`.
    fn interpolate(&self, path: &Path, inner: &str) -> Result<String> {
        let verbatim = || format!("${{{inner}}}");
        let text = inner.trim();
        let text = text.strip_prefix('~').unwrap_or(text);
        let text = text.strip_suffix('~').unwrap_or(text).trim();
        let Ok(expr) = text.parse::<Expression>() else {
            return Ok(verbatim());
        };
        if !mentions_scope(&expr) {
            return Ok(verbatim());
        }
        match self.eval(path, &expr)? {
            Value::String(s) => Ok(s),
            Value::Number(n) => Ok(n.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(path.err(Kind::Type {
                expected: "a string, number or bool inside `${...}`",
                got: type_name(&other),
            })),
        }
    }
}

/// Whether `expr` reads `var.*` or `local.*` anywhere, and so must be
/// evaluated now rather than left for the client.
fn mentions_scope(expr: &Expression) -> bool {
    match expr {
        Expression::Variable(root) => matches!(root.as_str(), "var" | "local"),
        Expression::Traversal(t) => {
            mentions_scope(&t.expr)
                || t.operators.iter().any(|op| match op {
                    TraversalOperator::Index(index) => mentions_scope(index),
                    _ => false,
                })
        }
        Expression::Array(items) => items.iter().any(mentions_scope),
        Expression::Object(object) => object.iter().any(|(key, value)| {
            matches!(key, ObjectKey::Expression(k) if mentions_scope(k)) || mentions_scope(value)
        }),
        Expression::Parenthesis(inner) => mentions_scope(inner),
        Expression::Conditional(c) => {
            mentions_scope(&c.cond_expr)
                || mentions_scope(&c.true_expr)
                || mentions_scope(&c.false_expr)
        }
        Expression::Operation(op) => match op.as_ref() {
            Operation::Unary(u) => mentions_scope(&u.expr),
            Operation::Binary(b) => mentions_scope(&b.lhs_expr) || mentions_scope(&b.rhs_expr),
        },
        Expression::FuncCall(call) => call.args.iter().any(mentions_scope),
        Expression::TemplateExpr(t) => {
            let raw = match t.as_ref() {
                TemplateExpr::QuotedString(raw) => raw,
                TemplateExpr::Heredoc(heredoc) => &heredoc.template,
            };
            raw.contains("var.") || raw.contains("local.")
        }
        _ => false,
    }
}

/// Text of a runtime reference such as `attr.kernel.name` or `env["HOME"]`,
/// rebuilt from the traversal (only used for unquoted references; quoted
/// ones keep their source text).
fn runtime_reference(path: &Path, root: &str, ops: &[TraversalOperator]) -> Result<String> {
    let mut text = root.to_owned();
    for op in ops {
        match op {
            TraversalOperator::GetAttr(name) => {
                text.push('.');
                text.push_str(name.as_str());
            }
            TraversalOperator::LegacyIndex(i) => text.push_str(&format!(".{i}")),
            TraversalOperator::Index(Expression::Number(n)) => text.push_str(&format!("[{n}]")),
            TraversalOperator::Index(Expression::String(s)) => text.push_str(&format!("[{s:?}]")),
            _ => {
                return Err(path.err(Kind::Unsupported(format!(
                    "cannot keep this reference to `{root}` for the client; quote it as \"${{{root}...}}\""
                ))))
            }
        }
    }
    Ok(text)
}

/// Decodes one backslash escape at the start of `s` (a quoted template's
/// raw text); returns the character and how many bytes it took.
fn decode_escape(path: &Path, s: &str) -> Result<(char, usize)> {
    let bytes = s.as_bytes();
    let simple = match bytes.get(1) {
        Some(b'n') => Some('\n'),
        Some(b'r') => Some('\r'),
        Some(b't') => Some('\t'),
        Some(b'"') => Some('"'),
        Some(b'\\') => Some('\\'),
        _ => None,
    };
    if let Some(c) = simple {
        return Ok((c, 2));
    }
    let digits = match bytes.get(1) {
        Some(b'u') => 4,
        Some(b'U') => 8,
        _ => {
            return Err(path.err(Kind::Invalid(
                "invalid escape sequence in string".to_owned(),
            )))
        }
    };
    s.get(2..2 + digits)
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .and_then(char::from_u32)
        .map(|c| (c, 2 + digits))
        .ok_or_else(|| path.err(Kind::Invalid("invalid unicode escape in string".to_owned())))
}

/// Index of the `}` closing an interpolation whose body starts at `start`,
/// skipping nested braces and quoted strings.
fn closing_brace(bytes: &[u8], start: usize) -> Option<usize> {
    let mut depth = 1usize;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

fn json_number(path: &Path, n: &hcl::Number) -> Result<Value> {
    if let Some(i) = n.as_i64() {
        Ok(Value::from(i))
    } else if let Some(u) = n.as_u64() {
        Ok(Value::from(u))
    } else {
        float(path, n.as_f64().unwrap_or(f64::NAN))
    }
}

fn float(path: &Path, f: f64) -> Result<Value> {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| path.err(Kind::OutOfRange(f.to_string())))
}

#[derive(Debug, Clone, Copy)]
enum Num {
    Int(i64),
    Float(f64),
}

impl Num {
    fn as_f64(self) -> f64 {
        match self {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        }
    }
}

/// A number, converting numeric strings the way Nomad's HCL library (cty)
/// does, so `"3"` works where a number is wanted.
fn to_num(path: &Path, value: Value) -> Result<Num> {
    let mismatch = |v: &Value| {
        path.err(Kind::Type {
            expected: "a number",
            got: type_name(v),
        })
    };
    match &value {
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Num::Int(i)),
            (None, Some(f)) => Ok(Num::Float(f)),
            (None, None) => Err(mismatch(&value)),
        },
        Value::String(s) => match (s.parse::<i64>(), s.parse::<f64>()) {
            (Ok(i), _) => Ok(Num::Int(i)),
            (_, Ok(f)) if f.is_finite() => Ok(Num::Float(f)),
            _ => Err(mismatch(&value)),
        },
        _ => Err(mismatch(&value)),
    }
}

fn binary_op(path: &Path, op: BinaryOperator, lhs: Value, rhs: Value) -> Result<Value> {
    use BinaryOperator as B;
    match op {
        B::Eq => Ok(Value::Bool(values_equal(&lhs, &rhs))),
        B::NotEq => Ok(Value::Bool(!values_equal(&lhs, &rhs))),
        B::And | B::Or => Ok(Value::Bool(to_bool(path, rhs)?)),
        B::Less | B::LessEq | B::Greater | B::GreaterEq => {
            let (l, r) = (to_num(path, lhs)?.as_f64(), to_num(path, rhs)?.as_f64());
            Ok(Value::Bool(match op {
                B::Less => l < r,
                B::LessEq => l <= r,
                B::Greater => l > r,
                _ => l >= r, // GreaterEq, the last of the four
            }))
        }
        B::Plus | B::Minus | B::Mul | B::Div | B::Mod => {
            let (l, r) = (to_num(path, lhs)?, to_num(path, rhs)?);
            if let (Num::Int(a), Num::Int(b)) = (l, r) {
                let exact = match op {
                    B::Plus => a.checked_add(b),
                    B::Minus => a.checked_sub(b),
                    B::Mul => a.checked_mul(b),
                    B::Div if b != 0 && a.checked_rem(b) == Some(0) => a.checked_div(b),
                    B::Mod if b != 0 => a.checked_rem(b),
                    _ => None,
                };
                if let Some(result) = exact {
                    return Ok(Value::from(result));
                }
            }
            let (a, b) = (l.as_f64(), r.as_f64());
            if matches!(op, B::Div | B::Mod) && b == 0.0 {
                return Err(path.err(Kind::Invalid("division by zero".to_owned())));
            }
            float(
                path,
                match op {
                    B::Plus => a + b,
                    B::Minus => a - b,
                    B::Mul => a * b,
                    B::Div => a / b,
                    _ => a % b,
                },
            )
        }
    }
}

/// Equality with numbers compared by value, so `1 == 1.0`.
fn values_equal(lhs: &Value, rhs: &Value) -> bool {
    match (lhs, rhs) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => lhs == rhs,
    }
}

/// "a string", "a list", ...: for messages such as
/// "expected a number, got a string".
pub(super) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A string; numbers and bools convert as in Nomad (`PORT = 8080` in an
/// `env` block is the string `"8080"`). Null reads as unset (empty).
pub(super) fn to_string(path: &Path, value: Value) -> Result<String> {
    match value {
        Value::Null => Ok(String::new()),
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(path.err(Kind::Type {
            expected: "a string",
            got: type_name(&other),
        })),
    }
}

/// A whole number within `T`'s range. Null reads as unset (zero).
pub(super) fn to_int<T: TryFrom<i64> + Default>(path: &Path, value: Value) -> Result<T> {
    if value.is_null() {
        return Ok(T::default());
    }
    let i = match to_num(path, value)? {
        Num::Int(i) => i,
        Num::Float(f) if f.fract() != 0.0 => {
            return Err(path.err(Kind::NotWholeNumber(f.to_string())))
        }
        // Saturating cast; anything at the ends is out of range anyway.
        Num::Float(f) if f.abs() < 9.0e18 => f as i64,
        Num::Float(f) => return Err(path.err(Kind::OutOfRange(f.to_string()))),
    };
    T::try_from(i).map_err(|_| path.err(Kind::OutOfRange(i.to_string())))
}

/// A bool; the strings `"true"` and `"false"` convert, as in Nomad. Null
/// reads as unset (false).
pub(super) fn to_bool(path: &Path, value: Value) -> Result<bool> {
    match value {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        other => Err(path.err(Kind::Type {
            expected: "a bool",
            got: type_name(&other),
        })),
    }
}

/// A Go duration string (`"30s"`), or a number of nanoseconds as Nomad
/// also accepts. Null reads as unset (zero).
pub(super) fn to_duration(path: &Path, value: Value) -> Result<Nanos> {
    match value {
        Value::String(s) => parse_go_duration(&s).map_err(|reason| {
            path.err(Kind::InvalidDuration {
                value: s.clone(),
                reason,
            })
        }),
        Value::Number(_) | Value::Null => to_int(path, value),
        other => Err(path.err(Kind::Type {
            expected: "a duration string such as \"30s\"",
            got: type_name(&other),
        })),
    }
}

/// A list of strings (elements convert as in [`to_string`]).
pub(super) fn to_string_list(path: &Path, value: Value) -> Result<Vec<String>> {
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| to_string(&path.index(i), item))
            .collect(),
        other => Err(path.err(Kind::Type {
            expected: "a list of strings",
            got: type_name(&other),
        })),
    }
}

/// A map of strings, for `meta = { .. }` and `env = { .. }`.
pub(super) fn to_string_map(path: &Path, value: Value) -> Result<BTreeMap<String, String>> {
    match value {
        Value::Null => Ok(BTreeMap::new()),
        Value::Object(map) => map
            .into_iter()
            .map(|(k, v)| {
                let v = to_string(&path.key(&k), v)?;
                Ok((k, v))
            })
            .collect(),
        other => Err(path.err(Kind::Type {
            expected: "an object of strings",
            got: type_name(&other),
        })),
    }
}
