//! The boolean filter language behind Nomad's `?filter=` query parameter.
//!
//! Architecture Invariant: pure; no I/O
//!
//! Nomad's list endpoints accept a filter written in HashiCorp's go-bexpr
//! language (v0.1.16, documented at
//! <https://developer.hashicorp.com/nomad/api-docs#filtering>). Clients such
//! as the `nomad` CLI and Terraform send these strings verbatim, so Drover has
//! to accept the same syntax and give the same answers. This module is a
//! from-scratch implementation: [`Filter::parse`] turns the text into a small
//! syntax tree once, and [`Filter::matches`] evaluates that tree against any
//! `serde::Serialize` value (an API object such as a job or an allocation).
//! Nothing here touches the clock, the disk or the network, and no input can
//! make it panic: bad filters become a [`FilterError`] with a byte position so
//! that the HTTP layer can answer `400 Bad Request` with a useful message.
//!
//! # Grammar
//!
//! From loosest to tightest binding:
//!
//! ```text
//! filter    := or
//! or        := and ( "or" and )*
//! and       := unary ( "and" unary )*
//! unary     := "not" unary | "(" or ")" | match
//! match     := selector ( "==" | "!=" | "<" | "<=" | ">" | ">=" ) value
//!            | selector [ "not" ] ( "contains" | "matches" ) value
//!            | selector "is" [ "not" ] ( "empty" | "nil" )
//!            | value [ "not" ] "in" selector
//! selector  := ident ( "." ident | "." digits | "[" string "]" )*
//! ident     := [a-zA-Z_] [a-zA-Z0-9_/]*
//! value     := number | "true" | "false" | string | bareword
//! number    := "-"? ( "0" | [1-9][0-9]* ) ( "." [0-9]+ )?
//! string    := '"' Go-style escaped text '"' | '`' raw text '`'
//! bareword  := ident ( "." ( ident | digits ) )*     (taken as plain text)
//! ```
//!
//! Keywords (`and or not in contains is empty nil matches`) are lower case and
//! reserved: they cannot start a selector or be used as a bare word (quote
//! them instead). Whitespace (spaces, tabs, newlines) may appear between any
//! two tokens and inside `[ ]`. `not not X` is the same as `X`. Nesting of
//! parentheses and `not` is capped at [`MAX_DEPTH`] levels so that hostile
//! input cannot exhaust the stack.
//!
//! The ordering operators (`<`, `<=`, `>`, `>=`) and `is nil` are extensions
//! over go-bexpr 0.1.16 that Nomad users ask for; they compare numbers
//! numerically and strings byte-wise.
//!
//! # Structs versus maps
//!
//! Evaluation walks the serde data model rather than `serde_json::Value`,
//! because JSON cannot tell a Rust struct from a map, and the two must behave
//! differently (as Go's reflection-based go-bexpr does):
//!
//! * a selector segment naming a field that a **struct** does not have is an
//!   error (a typo such as `Stauts == "running"` must not silently filter
//!   everything out; Nomad answers 400 "error finding value in datum");
//! * a segment naming a key that a **map** (e.g. `Meta`) does not have is
//!   merely *not present*, because maps legitimately differ between objects.
//!
//! A list index past the end and walking through an absent optional value
//! (`None`) are also *not present*. Walking into a string, number or boolean
//! is an error. Field names are the serialized names, so selectors use the
//! wire spelling (`TaskGroups.0.Tasks.0.Driver`).
//!
//! # Values that are not present
//!
//! When a selector finds nothing (missing map key, index out of range, or an
//! absent optional value), the operator decides the answer on its own, as in
//! go-bexpr's `grammar/ast.go` `NotPresentDisposition`: the positive forms
//! `==`, `in`, `contains`, `matches`, `is not empty`, `is not nil` and the
//! ordering operators are `false`; the negated forms `!=`, `not in`,
//! `not contains`, `not matches`, `is empty` and `is nil` are `true`. A
//! present-but-`None` value is treated exactly like a missing one.
//!
//! # Comparisons
//!
//! The literal on the right is converted to the kind of the field it is
//! compared with (go-bexpr `coerce.go` does the same): against a boolean it
//! must spell a boolean, against a number it must be a number, against a
//! string its text is used as written (so `Name == 5` compares with `"5"`).
//! A literal that cannot be converted is an error at the literal's position.
//! Boolean fields accept the spellings Go's `strconv.ParseBool` accepts
//! (`true`, `True`, `TRUE`, `t`, `T`, `1` and the `false` counterparts),
//! because that is what go-bexpr calls. Integers compare exactly, and a
//! fractional literal against an integer field compares as a float.
//!
//! `in`/`contains` test key presence on a map, element equality on a list
//! (elements the literal cannot be converted to simply do not match, since a
//! JSON list may mix kinds) and substring on a string. `is empty` is true for
//! an empty string, list or map and never for a struct (it always has its
//! fields). `matches` is an unanchored regular-expression search (the `regex`
//! crate, whose syntax is close to Go's RE2) and applies to strings only.
//! Operators that make no sense for a field's kind (`==` on a list, `<` on a
//! boolean, `matches` on a number) are errors at the selector's position, so
//! that a filter which can never be right is reported rather than silently
//! matching nothing. The per-operator table is in `eval.rs`.

mod ast;
mod eval;
mod parse;
mod value;

#[cfg(test)]
mod fixture;
#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_syntax;

pub use parse::MAX_DEPTH;

/// A parsed filter expression.
///
/// Parsing happens once per request; [`Filter::matches`] is then called for
/// every candidate object, so everything that can be decided from the text
/// alone (regular expressions, numeric literals, which fields are needed) is
/// prepared here.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    src: String,
    expr: ast::Expr,
    /// The union of all selector paths; lets evaluation materialise only the
    /// parts of an object that the filter can look at.
    projection: value::Projection,
}

impl Filter {
    /// Parses `src`, reporting the first syntax error with its byte offset.
    pub fn parse(src: &str) -> Result<Filter, FilterError> {
        let expr = parse::parse(src)?;
        let projection = value::Projection::from_expr(&expr);
        Ok(Filter {
            src: src.to_owned(),
            expr,
            projection,
        })
    }

    /// Evaluates the filter against any serializable value (the full object,
    /// e.g. a `drover_api::Job`).
    ///
    /// Errors are reported for problems that only show up against real data:
    /// a selector naming a struct field that does not exist, an operator that
    /// makes no sense for the field's kind, or a literal that cannot be
    /// converted to the field's kind.
    pub fn matches<T: serde::Serialize + ?Sized>(&self, value: &T) -> Result<bool, FilterError> {
        let root = value::to_value(value, Some(&self.projection))?;
        eval::eval(&self.expr, &root)
    }

    /// Same as [`Filter::matches`] but materialises the whole object instead
    /// of only the selected paths. Kept for tests that check the projection
    /// optimisation never changes an answer.
    #[cfg(test)]
    pub(crate) fn matches_unprojected<T: serde::Serialize + ?Sized>(
        &self,
        value: &T,
    ) -> Result<bool, FilterError> {
        let root = value::to_value(value, None)?;
        eval::eval(&self.expr, &root)
    }

    /// The original text the filter was parsed from.
    pub fn source(&self) -> &str {
        &self.src
    }

    /// A normalised rendering of the syntax tree (fully parenthesised, with
    /// canonical quoting). Parsing it again yields the same tree, which the
    /// property tests rely on.
    #[cfg(test)]
    pub(crate) fn canonical(&self) -> String {
        self.expr.to_string()
    }
}

impl std::fmt::Display for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.src)
    }
}

impl std::str::FromStr for Filter {
    type Err = FilterError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filter::parse(s)
    }
}

/// Why a filter was rejected, and where.
///
/// `pos` is a 0-based byte offset into [`Filter::source`]. For errors found
/// while evaluating (unknown field, bad comparison) it points at the selector
/// segment or literal responsible, so one message format serves both phases.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter at position {pos}: {kind}")]
pub struct FilterError {
    pub pos: usize,
    pub kind: FilterErrorKind,
}

impl FilterError {
    pub(crate) fn new(pos: usize, kind: FilterErrorKind) -> FilterError {
        FilterError { pos, kind }
    }
}

/// The reason part of a [`FilterError`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterErrorKind {
    /// The filter is empty or only whitespace.
    #[error("the filter is empty")]
    Empty,
    /// Something specific was required here, e.g. `an expression`.
    #[error("expected {0}")]
    Expected(&'static str),
    /// An operator was not followed by its operand.
    #[error("expected {what} after \"{after}\"")]
    ExpectedAfter { what: &'static str, after: String },
    /// A `(` was never closed.
    #[error("expected \")\" to close the \"(\" at position {open}")]
    UnclosedParen { open: usize },
    /// A complete expression was followed by something that does not
    /// continue it.
    #[error("unexpected {found} after a complete expression; expected \"and\", \"or\" or the end of the filter")]
    TrailingInput { found: String },
    /// A quoted string or key has no closing quote.
    #[error("unterminated string literal")]
    UnterminatedString,
    /// A backslash escape inside a double-quoted string is not valid.
    #[error("invalid escape sequence {0}")]
    InvalidEscape(String),
    /// Something started like a number but is not one (e.g. `007`, `1.`, `5x`).
    #[error("invalid number literal {0:?}")]
    InvalidNumber(String),
    /// The operand of `matches` does not compile as a regular expression.
    #[error("invalid regular expression: {0}")]
    InvalidRegex(String),
    /// Parentheses and `not` are nested deeper than [`MAX_DEPTH`].
    #[error("expression nested deeper than {max} levels")]
    TooDeep { max: usize },
    /// A keyword was used where a selector or value was expected.
    #[error("\"{0}\" is a reserved word; quote it to use it as a value")]
    ReservedWord(String),
    /// A selector names a struct field that does not exist.
    #[error("unknown field {0:?}")]
    UnknownField(String),
    /// A selector tries to look inside a value that has no parts, or uses a
    /// non-numeric key on a list.
    #[error("cannot look up {segment:?} inside {kind}")]
    NotIndexable { segment: String, kind: &'static str },
    /// A literal cannot be converted to the kind of the field.
    #[error("cannot compare {kind} field with {literal:?}")]
    CannotCoerce { literal: String, kind: &'static str },
    /// The operator makes no sense for the field's kind.
    #[error("operator \"{op}\" cannot be applied to {kind}")]
    UnsupportedOperand {
        op: &'static str,
        kind: &'static str,
    },
    /// The object could not be converted into the evaluation model (e.g. a
    /// map whose keys are structs).
    #[error("cannot inspect value: {0}")]
    Serialize(String),
}
