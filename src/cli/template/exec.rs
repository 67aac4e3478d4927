//! Executing a parsed template: walking the nodes with dot and the
//! variables, Go's truth and printing rules, and the built-in functions.

use serde_json::Value;

use super::{position, Arg, Node, Pipe, TemplateError};

pub(super) struct Exec<'a> {
    pub(super) src: &'a str,
    pub(super) vars: Vec<(String, Value)>,
}

impl Exec<'_> {
    fn err(&self, at: usize, msg: impl Into<String>) -> TemplateError {
        position(self.src, at, msg.into())
    }

    pub(super) fn walk(
        &mut self,
        nodes: &[Node],
        dot: &Value,
        out: &mut String,
    ) -> Result<(), TemplateError> {
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
                        Value::Number(n) if n.as_u64().is_some_and(|n| n > 1_000_000) => {
                            return Err(self.err(pipe.pos, format!("range over {n}: too many")))
                        }
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
