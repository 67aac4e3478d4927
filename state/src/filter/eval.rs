//! Evaluation of a parsed filter against a [`Value`].
//!
//! Per-operator rules (the literal is always converted to the field's kind):
//!
//! | operator            | bool | number | string    | list          | map          | struct |
//! |---------------------|------|--------|-----------|---------------|--------------|--------|
//! | `==` `!=`           | yes  | yes    | yes       | error         | error        | error  |
//! | `<` `<=` `>` `>=`   | error| numeric| byte-wise | error         | error        | error  |
//! | `in` / `contains`   | error| error  | substring | any element = | key present  | error  |
//! | `is [not] empty`    | error| error  | len == 0  | len == 0      | len == 0     | never empty |
//! | `is [not] nil`      | false| false  | false     | false         | false        | false  |
//! | `[not] matches`     | error| error  | regex     | error         | error        | error  |
//!
//! Absent values (missing map key, index past the end, `None`) never reach
//! these rules; see [`not_present`].

use std::cmp::Ordering;

use super::ast::{Expr, Literal, Match, Num, Op, Operand, Selector};
use super::value::Value;
use super::{FilterError, FilterErrorKind as K};

/// Evaluates `expr` against `root`, left to right with short-circuiting.
/// As in go-bexpr (`evaluate.go`), a branch that is never evaluated cannot
/// report an error.
pub(crate) fn eval(expr: &Expr, root: &Value) -> Result<bool, FilterError> {
    match expr {
        Expr::Or(items) => {
            for e in items {
                if eval(e, root)? {
                    return Ok(true);
                }
            }
            Ok(false)
        }
        Expr::And(items) => {
            for e in items {
                if !eval(e, root)? {
                    return Ok(false);
                }
            }
            Ok(true)
        }
        Expr::Not(e) => Ok(!eval(e, root)?),
        Expr::Match(m) => eval_match(m, root),
    }
}

/// The answer when the selector finds nothing. Positive questions about a
/// missing value are false, their negations true; this follows go-bexpr
/// grammar/ast.go `NotPresentDisposition`, extended to the ordering
/// operators (nothing is less or greater than a missing value).
pub(crate) fn not_present(op: Op) -> bool {
    match op {
        Op::Eq | Op::Lt | Op::Le | Op::Gt | Op::Ge => false,
        Op::In | Op::Contains | Op::Matches => false,
        Op::IsNotEmpty | Op::IsNotNil => false,
        Op::Ne | Op::NotIn | Op::NotContains | Op::NotMatches => true,
        Op::IsEmpty | Op::IsNil => true,
    }
}

/// Follows `sel` from `root`. `Ok(None)` means "not present".
fn resolve<'v>(sel: &Selector, root: &'v Value) -> Result<Option<&'v Value>, FilterError> {
    let mut cur = root;
    for seg in &sel.segs {
        cur = match cur {
            Value::Null => return Ok(None),
            Value::Struct(fields) => match fields.iter().find(|(k, _)| *k == seg.name) {
                Some((_, v)) => v,
                // A struct's shape is fixed, so an unknown field is a mistake
                // in the filter, not data (Nomad: "error finding value in datum").
                None => return Err(FilterError::new(seg.pos, K::UnknownField(seg.name.clone()))),
            },
            Value::Map(entries) => match entries.iter().find(|(k, _)| *k == seg.name) {
                Some((_, v)) => v,
                None => return Ok(None),
            },
            Value::Seq(items) => match seg.index {
                Some(ix) => match items.get(ix) {
                    Some(v) => v,
                    None => return Ok(None),
                },
                None => {
                    return Err(FilterError::new(
                        seg.pos,
                        K::NotIndexable {
                            segment: seg.name.clone(),
                            kind: cur.kind_name(),
                        },
                    ))
                }
            },
            Value::Bool(_) | Value::Int(_) | Value::UInt(_) | Value::Float(_) | Value::Str(_) => {
                return Err(FilterError::new(
                    seg.pos,
                    K::NotIndexable {
                        segment: seg.name.clone(),
                        kind: cur.kind_name(),
                    },
                ))
            }
        };
    }
    Ok(match cur {
        Value::Null => None,
        v => Some(v),
    })
}

fn eval_match(m: &Match, root: &Value) -> Result<bool, FilterError> {
    let Some(v) = resolve(&m.sel, root)? else {
        return Ok(not_present(m.op));
    };
    let unsupported = || {
        Err(FilterError::new(
            m.sel.pos(),
            K::UnsupportedOperand {
                op: m.op.as_str(),
                kind: v.kind_name(),
            },
        ))
    };
    match (m.op, &m.operand) {
        (Op::IsEmpty | Op::IsNotEmpty, _) => {
            let empty = match v {
                Value::Str(s) => s.is_empty(),
                Value::Seq(items) => items.is_empty(),
                Value::Map(entries) => entries.is_empty(),
                // A struct always has its fields, so it is never empty.
                Value::Struct(_) => false,
                _ => return unsupported(),
            };
            Ok(empty == (m.op == Op::IsEmpty))
        }
        // `resolve` maps Null to "not present", so anything here is non-nil.
        (Op::IsNil, _) => Ok(false),
        (Op::IsNotNil, _) => Ok(true),
        (Op::Matches | Op::NotMatches, Operand::Regex(_, re)) => match v {
            // Unanchored search, like Go's regexp.MatchString.
            Value::Str(s) => Ok(re.0.is_match(s) == (m.op == Op::Matches)),
            _ => unsupported(),
        },
        (op, Operand::Lit(lit)) => match op {
            Op::Eq | Op::Ne => {
                let eq = match v {
                    Value::Seq(_) | Value::Map(_) | Value::Struct(_) => return unsupported(),
                    _ => scalar_eq(v, lit)?,
                };
                Ok(eq == (op == Op::Eq))
            }
            Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                let ord = match v {
                    Value::Int(_) | Value::UInt(_) | Value::Float(_) => {
                        let n = lit_num(v, lit)?;
                        match field_num(v).and_then(|f| cmp_num(f, n)) {
                            Some(o) => o,
                            // NaN is not ordered against anything.
                            None => return Ok(false),
                        }
                    }
                    Value::Str(s) => s.as_str().cmp(lit.text.as_str()),
                    _ => return unsupported(),
                };
                Ok(match op {
                    Op::Lt => ord == Ordering::Less,
                    Op::Le => ord != Ordering::Greater,
                    Op::Gt => ord == Ordering::Greater,
                    _ => ord != Ordering::Less,
                })
            }
            Op::In | Op::Contains | Op::NotIn | Op::NotContains => {
                let found = match v {
                    Value::Map(entries) => entries.iter().any(|(k, _)| *k == lit.text),
                    Value::Seq(items) => items.iter().any(|item| element_eq(item, lit)),
                    Value::Str(s) => s.contains(lit.text.as_str()),
                    _ => return unsupported(),
                };
                Ok(found == matches!(op, Op::In | Op::Contains))
            }
            _ => unsupported(),
        },
        // Every operator is parsed together with the operand it needs, so
        // these combinations cannot be built; answer with an error anyway.
        _ => unsupported(),
    }
}

/// `==` between a scalar field and a literal, converting the literal to the
/// field's kind (go-bexpr `coerce.go`). Failure to convert is an error.
fn scalar_eq(v: &Value, lit: &Literal) -> Result<bool, FilterError> {
    match v {
        Value::Bool(b) => match parse_bool(&lit.text) {
            Some(x) => Ok(x == *b),
            None => Err(cannot_coerce(v, lit)),
        },
        Value::Int(_) | Value::UInt(_) | Value::Float(_) => {
            let n = lit_num(v, lit)?;
            Ok(field_num(v).and_then(|f| cmp_num(f, n)) == Some(Ordering::Equal))
        }
        Value::Str(s) => Ok(*s == lit.text),
        _ => Ok(false),
    }
}

/// Element equality for `in`/`contains` on a list: elements whose kind the
/// literal cannot be converted to simply do not match (a list may mix kinds,
/// e.g. a `serde_json::Value` array).
fn element_eq(item: &Value, lit: &Literal) -> bool {
    match item {
        Value::Bool(_) | Value::Int(_) | Value::UInt(_) | Value::Float(_) | Value::Str(_) => {
            scalar_eq(item, lit).unwrap_or(false)
        }
        _ => false,
    }
}

fn cannot_coerce(v: &Value, lit: &Literal) -> FilterError {
    FilterError::new(
        lit.pos,
        K::CannotCoerce {
            literal: lit.text.clone(),
            kind: v.kind_name(),
        },
    )
}

fn lit_num(v: &Value, lit: &Literal) -> Result<Num, FilterError> {
    lit.num.ok_or_else(|| cannot_coerce(v, lit))
}

fn field_num(v: &Value) -> Option<Num> {
    match v {
        Value::Int(i) => Some(Num::I(*i)),
        Value::UInt(u) => Some(Num::U(*u)),
        Value::Float(f) => Some(Num::F(*f)),
        _ => None,
    }
}

/// Compares two numbers exactly when both are integers, otherwise as f64.
fn cmp_num(a: Num, b: Num) -> Option<Ordering> {
    fn int(n: Num) -> Option<i128> {
        match n {
            Num::I(i) => Some(i128::from(i)),
            Num::U(u) => Some(i128::from(u)),
            Num::F(_) => None,
        }
    }
    fn float(n: Num) -> f64 {
        match n {
            Num::I(i) => i as f64,
            Num::U(u) => u as f64,
            Num::F(f) => f,
        }
    }
    match (int(a), int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => float(a).partial_cmp(&float(b)),
    }
}

/// The spellings Go's `strconv.ParseBool` accepts, which is what go-bexpr
/// uses to convert a literal for a boolean field.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}
