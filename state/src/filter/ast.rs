//! The syntax tree of a parsed filter, and its canonical rendering.

use std::fmt;

/// A boolean expression. `And`/`Or` are n-ary so that long flat chains such
/// as `a and b and c ...` do not create deep trees.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Not(Box<Expr>),
    Match(Box<Match>),
}

/// One comparison: `selector op operand`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Match {
    pub sel: Selector,
    pub op: Op,
    pub operand: Operand,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Contains,
    NotContains,
    IsEmpty,
    IsNotEmpty,
    IsNil,
    IsNotNil,
    Matches,
    NotMatches,
}

impl Op {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
            Op::In => "in",
            Op::NotIn => "not in",
            Op::Contains => "contains",
            Op::NotContains => "not contains",
            Op::IsEmpty => "is empty",
            Op::IsNotEmpty => "is not empty",
            Op::IsNil => "is nil",
            Op::IsNotNil => "is not nil",
            Op::Matches => "matches",
            Op::NotMatches => "not matches",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    /// `is empty` and friends take no operand.
    None,
    Lit(Literal),
    /// `matches`: the literal plus its compiled form.
    Regex(Literal, Re),
}

/// A compiled regular expression. `regex::Regex` has no `PartialEq`; two
/// patterns are equal when their source text is.
#[derive(Debug, Clone)]
pub(crate) struct Re(pub regex::Regex);

impl PartialEq for Re {
    fn eq(&self, other: &Re) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LitKind {
    Number,
    Bool,
    Quoted,
    Bare,
}

/// A literal operand. Comparison converts it to the field's kind, so we keep
/// the text (go-bexpr keeps `MatchValue.Raw` for the same reason) and cache
/// its numeric reading.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Literal {
    pub text: String,
    pub pos: usize,
    pub kind: LitKind,
    pub num: Option<Num>,
}

/// A number read from a literal, kept exact where possible.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Num {
    I(i64),
    U(u64),
    F(f64),
}

impl Num {
    /// Reads `text` as a number the way a Go `strconv.Parse*` family would
    /// accept it: integers exactly, anything else as a float.
    pub(crate) fn parse(text: &str) -> Option<Num> {
        let t = text.trim();
        if let Ok(i) = t.parse::<i64>() {
            return Some(Num::I(i));
        }
        if let Ok(u) = t.parse::<u64>() {
            return Some(Num::U(u));
        }
        t.parse::<f64>().ok().map(Num::F)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SegStyle {
    Ident,
    Digits,
    Quoted,
}

/// One step of a selector path.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Segment {
    pub name: String,
    pub pos: usize,
    pub style: SegStyle,
    /// `Some` when `name` is all ASCII digits: the list index it denotes, or
    /// `usize::MAX` when it is too large for any list (so simply absent).
    pub index: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Selector {
    pub segs: Vec<Segment>,
}

impl Selector {
    pub(crate) fn pos(&self) -> usize {
        self.segs.first().map_or(0, |s| s.pos)
    }
}

pub(crate) fn segment(name: &str, pos: usize, style: SegStyle) -> Segment {
    let index = if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        Some(name.parse::<usize>().unwrap_or(usize::MAX))
    } else {
        None
    };
    Segment {
        name: name.to_owned(),
        pos,
        style,
        index,
    }
}

pub(crate) fn literal_of(text: String, pos: usize, kind: LitKind) -> Literal {
    let num = Num::parse(&text);
    Literal {
        text,
        pos,
        kind,
        num,
    }
}

// ---------------------------------------------------------------------------
// Canonical printing. Used to test that parsing is stable (print, parse again,
// print again gives the same text) and handy when debugging.

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Or(items) | Expr::And(items) => {
                let sep = if matches!(self, Expr::Or(_)) {
                    " or "
                } else {
                    " and "
                };
                f.write_str("(")?;
                for (n, e) in items.iter().enumerate() {
                    if n > 0 {
                        f.write_str(sep)?;
                    }
                    write!(f, "{e}")?;
                }
                f.write_str(")")
            }
            Expr::Not(e) => write!(f, "not ({e})"),
            Expr::Match(m) => write!(f, "{m}"),
        }
    }
}

impl fmt::Display for Match {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lit = match &self.operand {
            Operand::None => None,
            Operand::Lit(l) | Operand::Regex(l, _) => Some(l),
        };
        match (self.op, lit) {
            (Op::In | Op::NotIn, Some(l)) => write!(f, "{l} {} {}", self.op.as_str(), self.sel),
            (_, Some(l)) => write!(f, "{} {} {l}", self.sel, self.op.as_str()),
            (_, None) => write!(f, "{} {}", self.sel, self.op.as_str()),
        }
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, s) in self.segs.iter().enumerate() {
            match s.style {
                SegStyle::Ident if n == 0 => f.write_str(&s.name)?,
                SegStyle::Ident | SegStyle::Digits => write!(f, ".{}", s.name)?,
                SegStyle::Quoted => write!(f, "[{}]", quote(&s.name))?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            LitKind::Number | LitKind::Bool | LitKind::Bare => f.write_str(&self.text),
            LitKind::Quoted => f.write_str(&quote(&self.text)),
        }
    }
}

/// Quotes `s` as a double-quoted filter string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
