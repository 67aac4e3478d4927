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

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    /// The actions' token lists, consumed in order by the tree builder.
    actions: Vec<(usize, Vec<(usize, Tok)>)>,
}

enum Piece {
    Text(String),
    Action(usize, Vec<(usize, Tok)>),
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
    #[allow(clippy::type_complexity)]
    fn list(
        &mut self,
        it: &mut std::iter::Peekable<std::vec::IntoIter<Piece>>,
    ) -> Result<(Vec<Node>, Option<(usize, String)>), TemplateError> {
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
        it: &mut std::iter::Peekable<std::vec::IntoIter<Piece>>,
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

struct Exec<'a> {
    src: &'a str,
    vars: Vec<(String, Value)>,
}

impl Exec<'_> {
    fn err(&self, at: usize, msg: impl Into<String>) -> TemplateError {
        position(self.src, at, msg.into())
    }

    fn walk(&mut self, nodes: &[Node], dot: &Value, out: &mut String) -> Result<(), TemplateError> {
        for node in nodes {
            match node {
                Node::Text(t) => out.push_str(t),
                Node::Action(pipe) => {
                    let v = self.pipe(pipe, dot)?;
                    if pipe.vars.is_empty() {
                        out.push_str(&print(&v));
                    }
                }
                Node::If { pipe, then, els } => {
                    let mark = self.vars.len();
                    let v = self.pipe(pipe, dot)?;
                    let branch = if truth(&v) { then } else { els };
                    self.walk(branch, dot, out)?;
                    self.vars.truncate(mark);
                }
                Node::With { pipe, then, els } => {
                    let mark = self.vars.len();
                    let v = self.pipe(pipe, dot)?;
                    if truth(&v) {
                        self.walk(then, &v, out)?;
                    } else {
                        self.walk(els, dot, out)?;
                    }
                    self.vars.truncate(mark);
                }
                Node::Range { pipe, body, els } => {
                    let mark = self.vars.len();
                    let decl = Pipe {
                        vars: Vec::new(),
                        ..pipe.clone()
                    };
                    let v = self.pipe(&decl, dot)?;
                    let items: Vec<(Value, Value)> = match &v {
                        Value::Array(a) => a
                            .iter()
                            .enumerate()
                            .map(|(i, e)| (Value::from(i), e.clone()))
                            .collect(),
                        Value::Object(m) => {
                            let mut keys: Vec<&String> = m.keys().collect();
                            keys.sort();
                            keys.into_iter()
                                .map(|k| (Value::String(k.clone()), m[k].clone()))
                                .collect()
                        }
                        Value::Null => Vec::new(),
                        Value::Number(n) if n.as_u64().is_some() => (0..n.as_u64().unwrap_or(0))
                            .map(|i| (Value::from(i), Value::from(i)))
                            .collect(),
                        other => {
                            return Err(self.err(
                                pipe.pos,
                                format!("range can't iterate over {}", print(other)),
                            ))
                        }
                    };
                    if items.is_empty() {
                        self.walk(els, dot, out)?;
                    }
                    for (k, e) in items {
                        let inner = self.vars.len();
                        match pipe.vars.as_slice() {
                            [one] => self.vars.push((one.clone(), e.clone())),
                            [key, elem] => {
                                self.vars.push((key.clone(), k));
                                self.vars.push((elem.clone(), e.clone()));
                            }
                            _ => {}
                        }
                        self.walk(body, &e, out)?;
                        self.vars.truncate(inner);
                    }
                    self.vars.truncate(mark);
                }
            }
        }
        Ok(())
    }

    fn pipe(&mut self, pipe: &Pipe, dot: &Value) -> Result<Value, TemplateError> {
        let mut last: Option<Value> = None;
        for cmd in &pipe.cmds {
            last = Some(self.command(pipe.pos, cmd, dot, last)?);
        }
        let v = last.unwrap_or(Value::Null);
        for name in &pipe.vars {
            if pipe.assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = v.clone(),
                    None => return Err(self.err(pipe.pos, format!("undefined variable: {name}"))),
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn command(
        &mut self,
        at: usize,
        cmd: &[Arg],
        dot: &Value,
        piped: Option<Value>,
    ) -> Result<Value, TemplateError> {
        if let Some(Arg::Func(name)) = cmd.first() {
            let mut args = Vec::new();
            for a in &cmd[1..] {
                args.push(self.arg(at, a, dot)?);
            }
            args.extend(piped);
            return call(name, &args)
                .map_err(|m| self.err(at, format!("error calling {name}: {m}")));
        }
        if cmd.len() > 1 || piped.is_some() {
            return Err(self.err(at, "can't give argument to non-function"));
        }
        self.arg(at, &cmd[0], dot)
    }

    fn arg(&mut self, at: usize, arg: &Arg, dot: &Value) -> Result<Value, TemplateError> {
        match arg {
            Arg::Field(path) => self.walk_path(at, dot, path),
            Arg::Var(name, path) => {
                let Some((_, v)) = self.vars.iter().rev().find(|(n, _)| n == name) else {
                    return Err(self.err(at, format!("undefined variable: {name}")));
                };
                let v = v.clone();
                self.walk_path(at, &v, path)
            }
            Arg::Lit(v) => Ok(v.clone()),
            Arg::Func(name) => {
                call(name, &[]).map_err(|m| self.err(at, format!("error calling {name}: {m}")))
            }
            Arg::Sub(pipe, path) => {
                let v = self.pipe(pipe, dot)?;
                self.walk_path(at, &v, path)
            }
        }
    }

    fn walk_path(&self, at: usize, from: &Value, path: &[String]) -> Result<Value, TemplateError> {
        let mut v = from;
        for name in path {
            v = match v {
                Value::Object(m) => m.get(name).unwrap_or(&Value::Null),
                Value::Null => &Value::Null,
                other => {
                    return Err(self.err(
                        at,
                        format!("can't evaluate field {name} in type {}", type_name(other)),
                    ))
                }
            };
        }
        Ok(v.clone())
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Go's truth: the zero value and empty containers are false.
fn truth(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// A value as `fmt.Print` shows it.
fn print(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".to_string(),
        _ => show(v),
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", show(&m[*k])))
                .collect();
            format!("map[{}]", parts.join(" "))
        }
    }
}

/// Go's `%v` of a number: integers as such, floats in shortest form with
/// an exponent from 1e21 (as `strconv.FormatFloat(f, 'g', -1, 64)` does
/// for `%v`).
fn number(n: &serde_json::Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.abs() >= 1e21 || (f != 0.0 && f.abs() < 1e-4) {
        let s = format!("{f:e}");
        // Rust writes `1e21`, Go `1e+21`.
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e:0>2}"),
            Some((m, e)) => format!("{m}e-{:0>2}", &e[1..]),
            None => s,
        }
    } else {
        f.to_string()
    }
}

fn call(name: &str, args: &[Value]) -> Result<Value, String> {
    let want = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!("wrong number of args: want {n} got {}", args.len()))
        }
    };
    match name {
        "printf" => {
            let Some(Value::String(f)) = args.first() else {
                return Err("printf needs a format string".into());
            };
            Ok(Value::String(sprintf(f, &args[1..])))
        }
        "print" => Ok(Value::String(sprint(args))),
        "println" => Ok(Value::String(
            args.iter().map(show).collect::<Vec<_>>().join(" ") + "\n",
        )),
        "len" => {
            want(1)?;
            match &args[0] {
                Value::String(s) => Ok(s.len().into()),
                Value::Array(a) => Ok(a.len().into()),
                Value::Object(m) => Ok(m.len().into()),
                other => Err(format!("len of type {}", type_name(other))),
            }
        }
        "index" => {
            let Some((first, keys)) = args.split_first() else {
                return Err("wrong number of args: want at least 1 got 0".into());
            };
            let mut v = first.clone();
            for k in keys {
                v = match (&v, k) {
                    (Value::Array(a), Value::Number(n)) => {
                        let i = n
                            .as_u64()
                            .ok_or_else(|| format!("index out of range: {n}"))?;
                        a.get(i as usize)
                            .cloned()
                            .ok_or_else(|| format!("index out of range: {i}"))?
                    }
                    (Value::Object(m), Value::String(s)) => {
                        m.get(s).cloned().unwrap_or(Value::Null)
                    }
                    (Value::Null, _) => return Err("index of untyped nil".into()),
                    (other, k) => {
                        return Err(format!(
                            "cannot index {} with {}",
                            type_name(other),
                            type_name(k)
                        ))
                    }
                };
            }
            Ok(v)
        }
        "json" => {
            want(1)?;
            serde_json::to_string(&args[0])
                .map(Value::String)
                .map_err(|e| e.to_string())
        }
        "not" => {
            want(1)?;
            Ok(Value::Bool(!truth(&args[0])))
        }
        "and" => Ok(args
            .iter()
            .find(|a| !truth(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null)),
        "or" => Ok(args
            .iter()
            .find(|a| truth(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null)),
        "eq" => {
            let Some((first, rest)) = args.split_first() else {
                return Err("missing argument for comparison".into());
            };
            Ok(Value::Bool(rest.iter().any(|r| same(first, r))))
        }
        "ne" => {
            want(2)?;
            Ok(Value::Bool(!same(&args[0], &args[1])))
        }
        "lt" | "le" | "gt" | "ge" => {
            want(2)?;
            let ord = match (&args[0], &args[1]) {
                (Value::Number(a), Value::Number(b)) => a
                    .as_f64()
                    .unwrap_or(0.0)
                    .partial_cmp(&b.as_f64().unwrap_or(0.0)),
                (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
                _ => None,
            };
            let ord = ord.ok_or("incompatible types for comparison")?;
            use std::cmp::Ordering::*;
            Ok(Value::Bool(match name {
                "lt" => ord == Less,
                "le" => ord != Greater,
                "gt" => ord == Greater,
                _ => ord != Less,
            }))
        }
        _ => Err(format!("function {name:?} not defined")),
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// `fmt.Sprint`: spaces between operands when neither side is a string.
fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !a.is_string() && !args[i - 1].is_string() {
            out.push(' ');
        }
        out.push_str(&show(a));
    }
    out
}

/// `fmt.Sprintf` for the verbs templates use: `%v %s %d %q %f %e %g %x
/// %X %t %%`, with flags `-`, `+`, `0`, ` `, a width and a precision.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut args = args.iter();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut left, mut plus, mut zero) = (false, false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => left = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width.push(d);
            chars.next();
        }
        let mut prec: Option<usize> = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = String::new();
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p.push(d);
                chars.next();
            }
            prec = Some(p.parse().unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let body = match (verb, arg) {
            ('d', Value::Number(n)) if n.as_i64().is_some() || n.as_u64().is_some() => {
                let s = number(n);
                if plus && !s.starts_with('-') {
                    format!("+{s}")
                } else {
                    s
                }
            }
            ('f' | 'F', Value::Number(n)) => {
                format!("{:.*}", prec.unwrap_or(6), n.as_f64().unwrap_or(0.0))
            }
            ('e', Value::Number(n)) => {
                let s = format!("{:.*e}", prec.unwrap_or(6), n.as_f64().unwrap_or(0.0));
                match s.split_once('e') {
                    Some((m, e)) if e.starts_with('-') => format!("{m}e-{:0>2}", &e[1..]),
                    Some((m, e)) => format!("{m}e+{e:0>2}"),
                    None => s,
                }
            }
            ('g', Value::Number(n)) => number(n),
            ('x' | 'X', Value::Number(n)) if n.as_u64().is_some() => {
                let s = format!("{:x}", n.as_u64().unwrap_or(0));
                if verb == 'X' {
                    s.to_uppercase()
                } else {
                    s
                }
            }
            ('x' | 'X', Value::String(s)) => {
                let h: String = s.bytes().map(|b| format!("{b:02x}")).collect();
                if verb == 'X' {
                    h.to_uppercase()
                } else {
                    h
                }
            }
            ('q', Value::String(s)) => serde_json::to_string(s).unwrap_or_default(),
            ('t', Value::Bool(b)) => b.to_string(),
            ('s' | 'v', v) => {
                let s = show(v);
                match prec {
                    Some(p) if verb == 's' => s.chars().take(p).collect(),
                    _ => s,
                }
            }
            (verb, v) => format!("%!{verb}({}={})", type_name(v), show(v)),
        };
        let w: usize = width.parse().unwrap_or(0);
        let len = body.chars().count();
        if len >= w {
            out.push_str(&body);
        } else if left {
            out.push_str(&body);
            out.extend(std::iter::repeat_n(' ', w - len));
        } else if zero && matches!(verb, 'd' | 'f' | 'e' | 'x' | 'X') {
            let (sign, digits) = match body.strip_prefix('-') {
                Some(d) => ("-", d),
                None => ("", body.as_str()),
            };
            out.push_str(sign);
            out.extend(std::iter::repeat_n('0', w - len));
            out.push_str(digits);
        } else {
            out.extend(std::iter::repeat_n(' ', w - len));
            out.push_str(&body);
        }
    }
    let extra: Vec<&Value> = args.collect();
    if !extra.is_empty() {
        let parts: Vec<String> = extra
            .iter()
            .map(|v| format!("{}={}", type_name(v), show(v)))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", parts.join(", ")));
    }
    out
}

#[cfg(test)]
#[path = "template_tests.rs"]
mod tests;
