//! A subset of Go's `text/template` over `serde_json::Value`, for the
//! `-t '<template>'` option every listing command takes (Nomad's
//! `command/data_format.go` hands the API object to `text/template`).
//!
//! Supported: text and `{{ }}` actions with `{{-`/`-}}` trimming and
//! `{{/* comments */}}`; `.`, `.Field.Sub`, `$`, `$var.Field`; string,
//! number, `true`/`false`/`nil` literals; pipelines with `|` and
//! parentheses; `{{if}}`/`{{else if}}`/`{{else}}`/`{{end}}`, `{{with}}`,
//! `{{range .X}}`, `{{range $e := .X}}`, `{{range $i, $e := .X}}` (with
//! `{{else}}` for an empty range); variables declared with `:=` and set
//! with `=`; the functions `printf`, `print`, `println`, `len`, `index`,
//! `json`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `not`, `and`, `or`.
//!
//! Go's rules kept: a JSON object behaves as Go's `map[string]interface{}`
//! (a missing key is `<no value>`; ranging visits keys in sorted order);
//! truth is Go's (`false`, `0`, `""`, `nil`, empty list or map are false);
//! values print as `fmt.Print` prints them (`[a b]`, `map[k:v]`).
//! Errors carry `line:column` of the action, in one line:
//! `template: :1:7: function "nope" not defined`.

use std::fmt;

use serde_json::Value;

use exec::Exec;

mod exec;

/// A parse or execution failure at `line:col` (1-based) of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub line: usize,
    pub col: usize,
    pub msg: String,
}

/// An action's tokens (with their positions), the position after its
/// `}}`, and whether it closed with `-}}`.
type Lexed = (Vec<(usize, Tok)>, usize, bool);

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "template: :{}:{}: {}", self.line, self.col, self.msg)
    }
}

impl std::error::Error for TemplateError {}

/// Parses `src` and executes it against `data`.
pub fn render(src: &str, data: &Value) -> Result<String, TemplateError> {
    let nodes = Parser::new(src).parse()?;
    let mut out = String::new();
    let mut exec = Exec {
        src,
        vars: vec![("$".to_string(), data.clone())],
    };
    exec.walk(&nodes, data, &mut out)?;
    Ok(out)
}

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Action(Pipe),
    If {
        pipe: Pipe,
        then: Vec<Node>,
        els: Vec<Node>,
    },
    With {
        pipe: Pipe,
        then: Vec<Node>,
        els: Vec<Node>,
    },
    Range {
        pipe: Pipe,
        body: Vec<Node>,
        els: Vec<Node>,
    },
}

/// `$a, $b := cmd | cmd`; `assign` is `=` rather than `:=`.
#[derive(Debug, Clone)]
struct Pipe {
    pos: usize,
    vars: Vec<String>,
    assign: bool,
    cmds: Vec<Vec<Arg>>,
}

#[derive(Debug, Clone)]
enum Arg {
    /// `.A.B` relative to dot (empty: dot itself).
    Field(Vec<String>),
    /// `$x.A.B`.
    Var(String, Vec<String>),
    Lit(Value),
    Func(String),
    Sub(Pipe, Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(Vec<String>),
    Var(String, Vec<String>),
    Str(String),
    Num(Value),
    Ident(String),
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
}

/// An action's tokens, each with its byte offset in the source.
type Tokens = Vec<(usize, Tok)>;

/// A list of nodes and the keyword that ended it (`end` or `else`, with
/// its offset), or `None` at the end of the source.
type List = (Vec<Node>, Option<(usize, String)>);

/// The split source, consumed by the tree builder.
type Pieces = std::iter::Peekable<std::vec::IntoIter<Piece>>;

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    /// The actions' token lists, consumed in order by the tree builder.
    actions: Vec<(usize, Tokens)>,
}

enum Piece {
    Text(String),
    Action(usize, Tokens),
}

impl<'a> Parser<'a> {
    fn new(src: &'a str) -> Parser<'a> {
        Parser {
            src,
            pos: 0,
            actions: Vec::new(),
        }
    }

    fn err(&self, at: usize, msg: impl Into<String>) -> TemplateError {
        position(self.src, at, msg.into())
    }

    fn parse(mut self) -> Result<Vec<Node>, TemplateError> {
        let pieces = self.split()?;
        let mut it = pieces.into_iter().peekable();
        let (nodes, end) = self.list(&mut it)?;
        match end {
            None => Ok(nodes),
            Some((at, kw)) => Err(self.err(at, format!("unexpected {{{{{kw}}}}}"))),
        }
    }

    /// Splits the source into text and tokenised actions, applying trims.
    fn split(&mut self) -> Result<Vec<Piece>, TemplateError> {
        let src = self.src;
        let mut pieces = Vec::new();
        let mut trim_next = false;
        while self.pos < src.len() {
            let rest = &src[self.pos..];
            let Some(open) = rest.find("{{") else {
                let mut text = rest.to_string();
                if trim_next {
                    text = text.trim_start().to_string();
                }
                pieces.push(Piece::Text(text));
                break;
            };
            let mut text = rest[..open].to_string();
            if trim_next {
                text = text.trim_start().to_string();
            }
            let start = self.pos + open;
            let mut inner = start + 2;
            let bytes = src.as_bytes();
            if src[inner..].starts_with("- ")
                || src[inner..].starts_with("-\t")
                || src[inner..].starts_with("-\n")
            {
                text = text.trim_end().to_string();
                inner += 1;
            }
            if !text.is_empty() {
                pieces.push(Piece::Text(text));
            }
            // Comments: `{{/* ... */}}`.
            let trimmed = src[inner..].trim_start();
            if trimmed.starts_with("/*") {
                let from = src.len() - trimmed.len();
                let Some(close) = src[from..].find("*/") else {
                    return Err(self.err(start, "unclosed comment"));
                };
                let mut after = from + close + 2;
                while after < src.len() && bytes[after].is_ascii_whitespace() {
                    after += 1;
                }
                trim_next = false;
                if src[after..].starts_with("-}}") {
                    trim_next = true;
                    after += 1;
                }
                if !src[after..].starts_with("}}") {
                    return Err(self.err(start, "comment ends before closing delimiter"));
                }
                self.pos = after + 2;
                continue;
            }
            let (toks, end, trim) = self.lex_action(start, inner)?;
            trim_next = trim;
            pieces.push(Piece::Action(start, toks));
            self.pos = end;
        }
        Ok(pieces)
    }

    /// Tokens of the action starting at `inner`; returns the position
    /// after `}}` and whether it closed with `-}}`.
    fn lex_action(&self, start: usize, inner: usize) -> Result<Lexed, TemplateError> {
        let src = self.src;
        let b = src.as_bytes();
        let mut i = inner;
        let mut toks = Vec::new();
        loop {
            while i < b.len() && b[i].is_ascii_whitespace() {
                i += 1;
            }
            if i >= b.len() {
                return Err(self.err(start, "unclosed action"));
            }
            if src[i..].starts_with("}}") {
                return Ok((toks, i + 2, false));
            }
            if src[i..].starts_with("-}}") && i > inner && b[i - 1].is_ascii_whitespace() {
                return Ok((toks, i + 3, true));
            }
            let at = i;
            let c = b[i];
            let tok = match c {
                b'(' => {
                    i += 1;
                    Tok::LParen
                }
                b')' => {
                    i += 1;
                    Tok::RParen
                }
                b'|' => {
                    i += 1;
                    Tok::Pipe
                }
                b',' => {
                    i += 1;
                    Tok::Comma
                }
                b':' if src[i..].starts_with(":=") => {
                    i += 2;
                    Tok::Declare
                }
                b'=' => {
                    i += 1;
                    Tok::Assign
                }
                b'"' => {
                    let (s, end) = self.lex_quoted(i)?;
                    i = end;
                    Tok::Str(s)
                }
                b'`' => {
                    let Some(close) = src[i + 1..].find('`') else {
                        return Err(self.err(at, "unterminated raw quoted string"));
                    };
                    let s = src[i + 1..i + 1 + close].to_string();
                    i += close + 2;
                    Tok::Str(s)
                }
                b'.' if b.get(i + 1).is_none_or(|n| !n.is_ascii_digit()) => {
                    let (path, end) = fields(src, i);
                    i = end;
                    Tok::Field(path)
                }
                b'$' => {
                    let mut j = i + 1;
                    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                        j += 1;
                    }
                    let name = src[i..j].to_string();
                    let (path, end) = if b.get(j) == Some(&b'.') {
                        fields(src, j)
                    } else {
                        (Vec::new(), j)
                    };
                    i = end;
                    Tok::Var(name, path)
                }
                b'-' | b'+' | b'.' | b'0'..=b'9' => {
                    let mut j = i + 1;
                    while j < b.len() && (b[j].is_ascii_alphanumeric() || b"._+-".contains(&b[j])) {
                        j += 1;
                    }
                    let word = &src[i..j];
                    let num = word
                        .parse::<i64>()
                        .map(Value::from)
                        .ok()
                        .or_else(|| word.parse::<f64>().ok().map(Value::from));
                    let Some(num) = num else {
                        return Err(self.err(at, format!("bad number syntax: {word:?}")));
                    };
                    i = j;
                    Tok::Num(num)
                }
                c if c.is_ascii_alphabetic() || c == b'_' => {
                    let mut j = i + 1;
                    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                        j += 1;
                    }
                    let word = src[i..j].to_string();
                    i = j;
                    Tok::Ident(word)
                }
                _ => {
                    let ch = src[i..].chars().next().unwrap_or('?');
                    return Err(self.err(at, format!("unexpected {ch:?} in command")));
                }
            };
            toks.push((at, tok));
        }
    }

    fn lex_quoted(&self, open: usize) -> Result<(String, usize), TemplateError> {
        let mut out = String::new();
        let mut chars = self.src[open + 1..].char_indices();
        while let Some((k, c)) = chars.next() {
            match c {
                '"' => return Ok((out, open + 1 + k + 1)),
                '\n' => break,
                '\\' => match chars.next().map(|(_, e)| e) {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('r') => out.push('\r'),
                    Some('\\') => out.push('\\'),
                    Some('"') => out.push('"'),
                    Some(other) => {
                        return Err(self.err(open, format!("unknown escape sequence: \\{other}")))
                    }
                    None => break,
                },
                c => out.push(c),
            }
        }
        Err(self.err(open, "unterminated quoted string"))
    }

    /// Nodes until `{{end}}` or `{{else ...}}`, which is returned with the
    /// rest of its tokens stashed for the caller.
    fn list(&mut self, it: &mut Pieces) -> Result<List, TemplateError> {
        let mut nodes = Vec::new();
        while let Some(piece) = it.next() {
            let (at, toks) = match piece {
                Piece::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Piece::Action(at, toks) => (at, toks),
            };
            let keyword = match toks.first() {
                Some((_, Tok::Ident(w))) => w.as_str(),
                None => return Err(self.err(at, "missing value for command")),
                _ => "",
            };
            match keyword {
                "end" => {
                    if toks.len() > 1 {
                        return Err(self.err(at, "unexpected tokens after end"));
                    }
                    return Ok((nodes, Some((at, "end".into()))));
                }
                "else" => {
                    self.actions.push((at, toks[1..].to_vec()));
                    return Ok((nodes, Some((at, "else".into()))));
                }
                "if" | "with" | "range" => {
                    let node = self.control(keyword, at, &toks[1..], it)?;
                    nodes.push(node);
                }
                "define" | "template" | "block" => {
                    return Err(self.err(at, format!("{keyword} is not supported")))
                }
                _ => nodes.push(Node::Action(self.pipe(at, &toks)?)),
            }
        }
        Ok((nodes, None))
    }

    fn control(
        &mut self,
        keyword: &str,
        at: usize,
        toks: &[(usize, Tok)],
        it: &mut Pieces,
    ) -> Result<Node, TemplateError> {
        if toks.is_empty() {
            return Err(self.err(at, format!("missing value for {keyword}")));
        }
        let pipe = self.pipe(at, toks)?;
        if keyword == "range" && pipe.vars.len() > 2 {
            return Err(self.err(at, "too many declarations in range"));
        }
        if keyword != "range" && pipe.vars.len() > 1 {
            return Err(self.err(at, format!("too many declarations in {keyword}")));
        }
        let (then, end) = self.list(it)?;
        let els = match end {
            None => return Err(self.err(at, format!("unexpected EOF: {keyword} without end"))),
            Some((_, ref e)) if e == "end" => Vec::new(),
            Some((else_at, _)) => {
                let (_, rest) = self.actions.pop().unwrap_or((else_at, Vec::new()));
                if rest.is_empty() {
                    let (els, end) = self.list(it)?;
                    match end {
                        Some((_, e)) if e == "end" => els,
                        Some((at, e)) => {
                            return Err(self.err(at, format!("unexpected {{{{{e}}}}}")))
                        }
                        None => {
                            return Err(
                                self.err(at, format!("unexpected EOF: {keyword} without end"))
                            )
                        }
                    }
                } else {
                    // `{{else if x}}` / `{{else with x}}`: a nested control
                    // that shares this one's `{{end}}`.
                    let kw = match rest.first() {
                        Some((_, Tok::Ident(w))) if w == "if" || w == "with" => w.clone(),
                        _ => return Err(self.err(else_at, "unexpected tokens after else")),
                    };
                    vec![self.control(&kw, else_at, &rest[1..], it)?]
                }
            }
        };
        Ok(match keyword {
            "if" => Node::If { pipe, then, els },
            "with" => Node::With { pipe, then, els },
            _ => Node::Range {
                pipe,
                body: then,
                els,
            },
        })
    }

    fn pipe(&self, at: usize, toks: &[(usize, Tok)]) -> Result<Pipe, TemplateError> {
        let mut rest = toks;
        let mut vars = Vec::new();
        let mut assign = false;
        // Declarations: `$a :=`, `$a, $b :=`, `$a =`.
        let decl_end = toks
            .iter()
            .position(|(_, t)| matches!(t, Tok::Declare | Tok::Assign));
        if let Some(end) = decl_end {
            let names = &toks[..end];
            let mut ok = !names.is_empty();
            for (k, (_, t)) in names.iter().enumerate() {
                match t {
                    Tok::Var(n, p) if k % 2 == 0 && p.is_empty() => vars.push(n.clone()),
                    Tok::Comma if k % 2 == 1 => {}
                    _ => ok = false,
                }
            }
            if ok {
                assign = toks[end].1 == Tok::Assign;
                rest = &toks[end + 1..];
            } else {
                vars.clear();
            }
        }
        let mut cmds = Vec::new();
        let mut i = 0;
        let mut current = Vec::new();
        while i < rest.len() {
            let (p, tok) = &rest[i];
            match tok {
                Tok::Pipe => {
                    if current.is_empty() {
                        return Err(self.err(*p, "missing command before |"));
                    }
                    cmds.push(std::mem::take(&mut current));
                }
                Tok::LParen => {
                    let mut depth = 1;
                    let mut j = i + 1;
                    while j < rest.len() && depth > 0 {
                        match rest[j].1 {
                            Tok::LParen => depth += 1,
                            Tok::RParen => depth -= 1,
                            _ => {}
                        }
                        j += 1;
                    }
                    if depth > 0 {
                        return Err(self.err(*p, "unclosed left paren"));
                    }
                    let sub = self.pipe(*p, &rest[i + 1..j - 1])?;
                    // `(...).Field`: a field chain lexed right after `)`.
                    let mut path = Vec::new();
                    if let Some((q, Tok::Field(f))) = rest.get(j) {
                        if *q == rest[j - 1].0 + 1 {
                            path = f.clone();
                            j += 1;
                        }
                    }
                    current.push(Arg::Sub(sub, path));
                    i = j;
                    continue;
                }
                Tok::RParen => return Err(self.err(*p, "unexpected right paren")),
                Tok::Field(f) => current.push(Arg::Field(f.clone())),
                Tok::Var(n, f) => current.push(Arg::Var(n.clone(), f.clone())),
                Tok::Str(s) => current.push(Arg::Lit(Value::String(s.clone()))),
                Tok::Num(n) => current.push(Arg::Lit(n.clone())),
                Tok::Ident(w) => current.push(match w.as_str() {
                    "true" => Arg::Lit(Value::Bool(true)),
                    "false" => Arg::Lit(Value::Bool(false)),
                    "nil" => Arg::Lit(Value::Null),
                    _ if FUNCS.contains(&w.as_str()) => Arg::Func(w.clone()),
                    _ => return Err(self.err(*p, format!("function {w:?} not defined"))),
                }),
                Tok::Declare | Tok::Assign | Tok::Comma => {
                    return Err(self.err(*p, "unexpected declaration or comma"))
                }
            }
            i += 1;
        }
        if current.is_empty() {
            return Err(self.err(at, "missing value for command"));
        }
        cmds.push(current);
        Ok(Pipe {
            pos: at,
            vars,
            assign,
            cmds,
        })
    }
}

const FUNCS: &[&str] = &[
    "printf", "print", "println", "len", "index", "json", "eq", "ne", "lt", "le", "gt", "ge",
    "not", "and", "or",
];

/// `.A.B` starting at the first dot; returns the names and the end.
fn fields(src: &str, mut i: usize) -> (Vec<String>, usize) {
    let b = src.as_bytes();
    let mut path = Vec::new();
    while b.get(i) == Some(&b'.') {
        let mut j = i + 1;
        while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
            j += 1;
        }
        if j == i + 1 {
            // A bare `.`: dot itself.
            i = j;
            break;
        }
        path.push(src[i + 1..j].to_string());
        i = j;
    }
    (path, i)
}

fn position(src: &str, at: usize, msg: String) -> TemplateError {
    let before = &src[..at.min(src.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    TemplateError { line, col, msg }
}

#[cfg(test)]
mod tests;
