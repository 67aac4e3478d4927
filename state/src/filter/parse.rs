//! The parser for the filter language.
//!
//! The parser is a recursive-descent parser over `&str` built from winnow's
//! token primitives. Every production decides what it is looking at from the
//! next token alone, so there is no backtracking and every error can name the
//! exact byte where the text stopped making sense. Positions are derived from
//! how much input is left (`src.len() - rest.len()`), which keeps the winnow
//! stream a plain `&str`.

use winnow::ascii::{digit1, multispace0};
use winnow::combinator::opt;
use winnow::error::EmptyError;
use winnow::token::{literal, take_while};
use winnow::Parser as _;

use super::ast::{
    literal_of, segment, Expr, LitKind, Literal, Match, Op, Operand, Re, SegStyle, Selector,
};
use super::{FilterError, FilterErrorKind as K};

/// How deeply parentheses and `not` may nest. Parsing, evaluating, cloning
/// and dropping the tree all recurse once per level, so the cap is what keeps
/// a hostile `((((...` from overflowing the stack. 256 is far beyond anything
/// a person writes.
pub const MAX_DEPTH: usize = 256;

/// Words with a grammatical role. They cannot start a selector or be a bare
/// word, otherwise `Status == not` or `in in X` would be ambiguous.
const KEYWORDS: &[&str] = &[
    "and", "or", "not", "in", "contains", "is", "empty", "nil", "matches",
];

type In<'a> = &'a str;
type Tok<T> = winnow::Result<T, EmptyError>;

/// Parses a whole filter.
pub(crate) fn parse(src: &str) -> Result<Expr, FilterError> {
    let p = P { len: src.len() };
    let mut i: In<'_> = src;
    ws(&mut i);
    if i.is_empty() {
        return Err(FilterError::new(p.pos(i), K::Empty));
    }
    let e = p.or(&mut i, 0)?;
    ws(&mut i);
    if !i.is_empty() {
        return Err(FilterError::new(
            p.pos(i),
            K::TrailingInput { found: describe(i) },
        ));
    }
    Ok(e)
}

fn ws(i: &mut In<'_>) {
    let r: Tok<&str> = multispace0.parse_next(i);
    let _ = r; // multispace0 accepts the empty string, so it cannot fail.
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '/'
}

/// `[a-zA-Z_][a-zA-Z0-9_/]*`
fn ident<'a>(i: &mut In<'a>) -> Tok<&'a str> {
    (
        take_while(1, is_ident_start),
        take_while(0.., is_ident_char),
    )
        .take()
        .parse_next(i)
}

/// Consumes `kw` if it is the next word (not merely a prefix of a longer
/// identifier such as `notes` or `index`).
fn keyword(i: &mut In<'_>, kw: &str) -> bool {
    match i.strip_prefix(kw) {
        Some(rest) if !rest.starts_with(is_ident_char) => {
            *i = rest;
            true
        }
        _ => false,
    }
}

fn peek_keyword(i: In<'_>, kw: &str) -> bool {
    let mut j = i;
    keyword(&mut j, kw)
}

/// A short description of what was found at an error position.
fn describe(i: In<'_>) -> String {
    let mut j = i;
    if let Ok(w) = ident(&mut j) {
        return format!("\"{w}\"");
    }
    match i.chars().next() {
        Some(c) => format!("{c:?}"),
        None => "end of input".to_owned(),
    }
}

struct P {
    len: usize,
}

impl P {
    fn pos(&self, i: In<'_>) -> usize {
        self.len - i.len()
    }

    fn err<T>(&self, i: In<'_>, kind: K) -> Result<T, FilterError> {
        Err(FilterError::new(self.pos(i), kind))
    }

    fn or(&self, i: &mut In<'_>, depth: usize) -> Result<Expr, FilterError> {
        self.chain(i, depth, "or", Self::and, Expr::Or)
    }

    fn and(&self, i: &mut In<'_>, depth: usize) -> Result<Expr, FilterError> {
        self.chain(i, depth, "and", Self::unary, Expr::And)
    }

    /// `operand (word operand)*`, one level of the precedence ladder: a single
    /// operand stands alone, several are joined by `wrap`.
    fn chain(
        &self,
        i: &mut In<'_>,
        depth: usize,
        word: &'static str,
        operand: fn(&Self, &mut In<'_>, usize) -> Result<Expr, FilterError>,
        wrap: fn(Vec<Expr>) -> Expr,
    ) -> Result<Expr, FilterError> {
        let mut items = vec![operand(self, i, depth)?];
        loop {
            let mut j = *i;
            ws(&mut j);
            if !keyword(&mut j, word) {
                break;
            }
            ws(&mut j);
            *i = j;
            if i.is_empty() {
                return self.err(
                    i,
                    K::ExpectedAfter {
                        what: "an expression",
                        after: word.to_owned(),
                    },
                );
            }
            items.push(operand(self, i, depth)?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            wrap(items)
        })
    }

    fn unary(&self, i: &mut In<'_>, depth: usize) -> Result<Expr, FilterError> {
        let start = *i;
        if keyword(i, "not") {
            if depth >= MAX_DEPTH {
                return self.err(start, K::TooDeep { max: MAX_DEPTH });
            }
            ws(i);
            if i.is_empty() {
                return self.err(
                    i,
                    K::ExpectedAfter {
                        what: "an expression",
                        after: "not".to_owned(),
                    },
                );
            }
            return Ok(match self.unary(i, depth + 1)? {
                // `not not X` is `X`; go-bexpr grammar.peg drops the pair too.
                Expr::Not(inner) => *inner,
                e => Expr::Not(Box::new(e)),
            });
        }
        if let Some(rest) = i.strip_prefix('(') {
            if depth >= MAX_DEPTH {
                return self.err(start, K::TooDeep { max: MAX_DEPTH });
            }
            let open = self.pos(start);
            *i = rest;
            ws(i);
            if i.is_empty() || i.starts_with(')') {
                return self.err(i, K::Expected("an expression"));
            }
            let e = self.or(i, depth + 1)?;
            ws(i);
            match i.strip_prefix(')') {
                Some(rest) => {
                    *i = rest;
                    Ok(e)
                }
                None => self.err(i, K::UnclosedParen { open }),
            }
        } else {
            self.matcher(i)
        }
    }

    /// A match expression. It starts either with a selector or with a value
    /// (`"x" in Sel`); an identifier could be either, so it is read as a
    /// selector and reinterpreted as a bare word if `in` follows.
    fn matcher(&self, i: &mut In<'_>) -> Result<Expr, FilterError> {
        let start = *i;
        let Some(c) = i.chars().next() else {
            return self.err(i, K::Expected("an expression"));
        };
        if is_ident_start(c) {
            let sel = self.selector(i)?;
            let mut j = *i;
            ws(&mut j);
            if peek_keyword(j, "in")
                || (peek_keyword(j, "not") && {
                    let mut k = j;
                    keyword(&mut k, "not");
                    ws(&mut k);
                    peek_keyword(k, "in")
                })
            {
                // Value-first form with a bare word, e.g. `prod in Datacenters`.
                if sel.segs.iter().any(|s| s.style == SegStyle::Quoted) {
                    return self.err(start, K::Expected("a value before \"in\""));
                }
                let text = &start[..start.len() - i.len()];
                let lit = self.bare_literal(start, text)?;
                return self.value_in(i, lit);
            }
            return self.selector_op(i, sel);
        }
        if c == '"' || c == '`' || c == '-' || c.is_ascii_digit() {
            let lit = self.value(i)?;
            return self.value_in(i, lit);
        }
        self.err(i, K::Expected("a selector, a value or \"(\""))
    }

    /// The rest of `value [not] in selector`.
    fn value_in(&self, i: &mut In<'_>, lit: Literal) -> Result<Expr, FilterError> {
        ws(i);
        let op = if keyword(i, "in") {
            Op::In
        } else if peek_keyword(i, "not") {
            let mut j = *i;
            keyword(&mut j, "not");
            ws(&mut j);
            if !keyword(&mut j, "in") {
                return self.err(j, K::Expected("\"in\" after \"not\""));
            }
            *i = j;
            Op::NotIn
        } else {
            return self.err(i, K::Expected("\"in\" or \"not in\" after a value"));
        };
        ws(i);
        match i.chars().next() {
            Some(c) if is_ident_start(c) => {}
            _ => {
                return self.err(
                    i,
                    K::ExpectedAfter {
                        what: "a selector",
                        after: op.as_str().to_owned(),
                    },
                )
            }
        }
        let sel = self.selector(i)?;
        Ok(Expr::Match(Box::new(Match {
            sel,
            op,
            operand: Operand::Lit(lit),
        })))
    }

    /// The operator and operand that follow a selector.
    fn selector_op(&self, i: &mut In<'_>, sel: Selector) -> Result<Expr, FilterError> {
        ws(i);
        let op_start = *i;
        let op = if let Some(op) = self.symbol_op(i) {
            op
        } else if keyword(i, "contains") {
            Op::Contains
        } else if keyword(i, "matches") {
            Op::Matches
        } else if keyword(i, "is") {
            ws(i);
            let not = keyword(i, "not");
            if not {
                ws(i);
            }
            let op = if keyword(i, "empty") {
                if not {
                    Op::IsNotEmpty
                } else {
                    Op::IsEmpty
                }
            } else if keyword(i, "nil") {
                if not {
                    Op::IsNotNil
                } else {
                    Op::IsNil
                }
            } else {
                let after = if not { "is not" } else { "is" };
                return self.err(
                    i,
                    K::ExpectedAfter {
                        what: "\"empty\" or \"nil\"",
                        after: after.to_owned(),
                    },
                );
            };
            return Ok(Expr::Match(Box::new(Match {
                sel,
                op,
                operand: Operand::None,
            })));
        } else if keyword(i, "not") {
            ws(i);
            if keyword(i, "contains") {
                Op::NotContains
            } else if keyword(i, "matches") {
                Op::NotMatches
            } else {
                return self.err(
                    i,
                    K::ExpectedAfter {
                        what: "\"contains\", \"matches\" or \"in\"",
                        after: "not".to_owned(),
                    },
                );
            }
        } else {
            return self.err(
                op_start,
                K::Expected("an operator (==, !=, <, <=, >, >=, contains, matches, is, in)"),
            );
        };
        ws(i);
        if i.is_empty() {
            return self.err(
                i,
                K::ExpectedAfter {
                    what: "a value",
                    after: op.as_str().to_owned(),
                },
            );
        }
        let lit = match self.value(i) {
            Ok(l) => l,
            Err(e) if matches!(e.kind, K::Expected(_)) => {
                return Err(FilterError::new(
                    e.pos,
                    K::ExpectedAfter {
                        what: "a value",
                        after: op.as_str().to_owned(),
                    },
                ))
            }
            Err(e) => return Err(e),
        };
        let operand = if matches!(op, Op::Matches | Op::NotMatches) {
            match regex::Regex::new(&lit.text) {
                Ok(re) => Operand::Regex(lit, Re(re)),
                Err(e) => {
                    return Err(FilterError::new(lit.pos, K::InvalidRegex(e.to_string())));
                }
            }
        } else {
            Operand::Lit(lit)
        };
        Ok(Expr::Match(Box::new(Match { sel, op, operand })))
    }

    fn symbol_op(&self, i: &mut In<'_>) -> Option<Op> {
        // Longest match first so that `<=` is not read as `<`.
        const OPS: &[(&str, Op)] = &[
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ];
        for (text, op) in OPS {
            let r: Tok<&str> = literal(*text).parse_next(i);
            if r.is_ok() {
                return Some(*op);
            }
        }
        None
    }

    fn selector(&self, i: &mut In<'_>) -> Result<Selector, FilterError> {
        let pos = self.pos(i);
        let start = *i;
        let first = match ident(i) {
            Ok(w) => w,
            Err(_) => return self.err(i, K::Expected("a selector")),
        };
        if KEYWORDS.contains(&first) {
            return self.err(start, K::ReservedWord(first.to_owned()));
        }
        let mut segs = vec![segment(first, pos, SegStyle::Ident)];
        loop {
            if let Some(rest) = i.strip_prefix('.') {
                *i = rest;
                let pos = self.pos(i);
                let word: Tok<&str> = ident.parse_next(i);
                if let Ok(w) = word {
                    segs.push(segment(w, pos, SegStyle::Ident));
                    continue;
                }
                let digits: Tok<&str> = digit1.parse_next(i);
                match digits {
                    Ok(d) => segs.push(segment(d, pos, SegStyle::Digits)),
                    Err(_) => {
                        return self.err(
                            i,
                            K::ExpectedAfter {
                                what: "a field name or index",
                                after: ".".to_owned(),
                            },
                        )
                    }
                }
            } else if let Some(rest) = i.strip_prefix('[') {
                *i = rest;
                ws(i);
                let pos = self.pos(i);
                if !(i.starts_with('"') || i.starts_with('`')) {
                    return self.err(
                        i,
                        K::ExpectedAfter {
                            what: "a quoted key",
                            after: "[".to_owned(),
                        },
                    );
                }
                let key = self.string(i)?;
                ws(i);
                match i.strip_prefix(']') {
                    Some(rest) => *i = rest,
                    None => return self.err(i, K::Expected("\"]\" to close the index")),
                }
                segs.push(segment(&key, pos, SegStyle::Quoted));
            } else {
                break;
            }
        }
        Ok(Selector { segs })
    }

    /// A value: number, boolean, quoted string or bare word.
    fn value(&self, i: &mut In<'_>) -> Result<Literal, FilterError> {
        let start = *i;
        let pos = self.pos(i);
        match i.chars().next() {
            Some('"') | Some('`') => {
                let text = self.string(i)?;
                Ok(literal_of(text, pos, LitKind::Quoted))
            }
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(i),
            Some(c) if is_ident_start(c) => {
                let text = self.bare_word(i)?;
                if text == "true" || text == "false" {
                    return Ok(literal_of(text.to_owned(), pos, LitKind::Bool));
                }
                self.bare_literal(start, text)
            }
            _ => self.err(i, K::Expected("a value")),
        }
    }

    fn bare_literal(&self, start: In<'_>, text: &str) -> Result<Literal, FilterError> {
        if KEYWORDS.contains(&text) {
            return self.err(start, K::ReservedWord(text.to_owned()));
        }
        let kind = if text == "true" || text == "false" {
            LitKind::Bool
        } else {
            LitKind::Bare
        };
        Ok(literal_of(text.to_owned(), self.pos(start), kind))
    }

    /// `ident ( "." ( ident | digits ) )*`, returned verbatim.
    fn bare_word<'a>(&self, i: &mut In<'a>) -> Result<&'a str, FilterError> {
        let start = *i;
        let _ = ident(i);
        while let Some(rest) = i.strip_prefix('.') {
            let mut j = rest;
            let w: Tok<&str> = ident.parse_next(&mut j);
            let d: Tok<&str> = if w.is_err() {
                digit1.parse_next(&mut j)
            } else {
                Ok("")
            };
            if w.is_err() && d.is_err() {
                break;
            }
            *i = j;
        }
        Ok(&start[..start.len() - i.len()])
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?`, which must end at a word boundary.
    fn number(&self, i: &mut In<'_>) -> Result<Literal, FilterError> {
        let start = *i;
        let pos = self.pos(i);
        let mut j = *i;
        let _ = opt(literal::<_, _, EmptyError>("-")).parse_next(&mut j);
        let int: Tok<&str> = digit1.parse_next(&mut j);
        let ok = match int {
            Ok(d) => !(d.len() > 1 && d.starts_with('0')),
            Err(_) => false,
        };
        let mut ok = ok;
        if ok && j.starts_with('.') {
            let mut k = &j[1..];
            let frac: Tok<&str> = digit1.parse_next(&mut k);
            if frac.is_ok() {
                j = k;
            } else {
                ok = false;
            }
        }
        if ok && j.starts_with(|c: char| is_ident_char(c) || c == '.') {
            ok = false;
        }
        if !ok {
            // Report the whole malformed token, up to the next separator.
            let mut k = start;
            let _ = take_while::<_, _, EmptyError>(0.., |c: char| {
                is_ident_char(c) || c == '.' || c == '-'
            })
            .parse_next(&mut k);
            let bad = &start[..start.len() - k.len()];
            return self.err(start, K::InvalidNumber(bad.to_owned()));
        }
        *i = j;
        let text = &start[..start.len() - i.len()];
        Ok(literal_of(text.to_owned(), pos, LitKind::Number))
    }

    /// A double-quoted string with Go escapes, or a backtick raw string.
    fn string(&self, i: &mut In<'_>) -> Result<String, FilterError> {
        let start = *i;
        if let Some(rest) = i.strip_prefix('`') {
            return match rest.find('`') {
                Some(end) => {
                    *i = &rest[end + 1..];
                    Ok(rest[..end].to_owned())
                }
                None => self.err(start, K::UnterminatedString),
            };
        }
        let Some(mut rest) = i.strip_prefix('"') else {
            return self.err(i, K::Expected("a quoted string"));
        };
        // Escapes such as \xff produce raw bytes (as in Go), so collect bytes
        // and check UTF-8 at the end.
        let mut out: Vec<u8> = Vec::with_capacity(rest.len().min(64));
        loop {
            let Some(c) = rest.chars().next() else {
                return self.err(start, K::UnterminatedString);
            };
            if c == '"' {
                *i = &rest[1..];
                break;
            }
            if c != '\\' {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                rest = &rest[c.len_utf8()..];
                continue;
            }
            let esc_at = rest;
            rest = &rest[1..];
            let bad = |r: In<'_>| {
                let n = esc_at.len() - r.len();
                let shown: String = esc_at.chars().take(n.clamp(2, 10)).collect();
                FilterError::new(self.pos(esc_at), K::InvalidEscape(shown))
            };
            let Some(e) = rest.chars().next() else {
                return self.err(start, K::UnterminatedString);
            };
            rest = &rest[e.len_utf8()..];
            match e {
                'a' => out.push(0x07),
                'b' => out.push(0x08),
                'f' => out.push(0x0c),
                'n' => out.push(b'\n'),
                'r' => out.push(b'\r'),
                't' => out.push(b'\t'),
                'v' => out.push(0x0b),
                '\\' => out.push(b'\\'),
                '"' => out.push(b'"'),
                '\'' => out.push(b'\''),
                'x' => {
                    let v = hex(rest, 2).ok_or_else(|| bad(rest))?;
                    rest = &rest[2..];
                    out.push(v as u8);
                }
                'u' | 'U' => {
                    let n = if e == 'u' { 4 } else { 8 };
                    let v = hex(rest, n).ok_or_else(|| bad(rest))?;
                    let ch = char::from_u32(v).ok_or_else(|| bad(&rest[n..]))?;
                    rest = &rest[n..];
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
                '0'..='7' => {
                    let oct = rest
                        .get(..2)
                        .filter(|s| s.bytes().all(|b| (b'0'..=b'7').contains(&b)));
                    let Some(oct) = oct else {
                        return Err(bad(rest));
                    };
                    let v = (e as u32 - '0' as u32) * 64 + u32::from_str_radix(oct, 8).unwrap_or(0);
                    if v > 255 {
                        return Err(bad(&rest[2..]));
                    }
                    rest = &rest[2..];
                    out.push(v as u8);
                }
                _ => return Err(bad(rest)),
            }
        }
        match String::from_utf8(out) {
            Ok(s) => Ok(s),
            Err(_) => self.err(
                start,
                K::InvalidEscape("producing invalid UTF-8".to_owned()),
            ),
        }
    }
}

/// Reads exactly `n` hex digits at the start of `s`.
fn hex(s: &str, n: usize) -> Option<u32> {
    let digits = s.get(..n)?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(digits, 16).ok()
}
