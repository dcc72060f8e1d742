//! The functions a template can call: Go's builtins (`not`, `len`, `index`,
//! `printf`, `eq` ...) and upstream Prometheus's (`humanize*`, `query`,
//! `first`, `label`, `reReplaceAll`, `graphLink` ...), plus the pieces of Go's
//! `fmt` and `time` formatting they need to print exactly as upstream does.

use std::collections::BTreeMap;
use std::rc::Rc;

use crate::model::civil::civil_from_days;
use crate::model::duration::parse_duration;
use crate::model::labels::go_quote;
use crate::model::value::format_go_g;

use super::value::{QuerySample, Value};
use super::Env;

/// Names a template may call; parsing rejects any other (`function "x" not defined`).
pub const FUNCTION_NAMES: &[&str] = &[
    // Go's builtins.
    "and",
    "or",
    "not",
    "len",
    "index",
    "slice",
    "print",
    "printf",
    "println",
    "html",
    "js",
    "urlquery",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    // Upstream Prometheus's.
    "query",
    "first",
    "label",
    "value",
    "strvalue",
    "sortByLabel",
    "humanize",
    "humanize1024",
    "humanizeDuration",
    "humanizePercentage",
    "humanizeTimestamp",
    "toTime",
    "toDuration",
    "now",
    "title",
    "toUpper",
    "toLower",
    "stripPort",
    "stripDomain",
    "match",
    "reReplaceAll",
    "graphLink",
    "tableLink",
    "parseDuration",
    "urlQueryEscape",
    "args",
    "tmpl",
    "safeHtml",
    "externalURL",
    "pathPrefix",
];

pub fn is_function(name: &str) -> bool {
    FUNCTION_NAMES.contains(&name)
}

/// Why a call failed: `Call` errors are wrapped as `error calling NAME: ...`
/// (the function itself failed); `Args` errors are reported as they are.
pub enum FuncError {
    Call(String),
    Args(String),
}

type FResult = Result<Value, FuncError>;

fn want_args(name: &str, args: &[Value], n: usize) -> Result<(), FuncError> {
    if args.len() != n {
        return Err(FuncError::Args(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )));
    }
    Ok(())
}

fn arg_str<'v>(v: &'v Value, _want: &str) -> Result<&'v str, FuncError> {
    match v {
        Value::Str(s) | Value::Html(s) => Ok(s),
        other => Err(FuncError::Args(format!(
            "wrong type for value; expected string; got {}",
            other.type_name()
        ))),
    }
}

/// Upstream's `convertToFloat`: numbers as they are, strings parsed.
fn to_float(v: &Value) -> Result<f64, FuncError> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(s) | Value::Html(s) => parse_go_float(s).ok_or_else(|| {
            FuncError::Call(format!(
                "strconv.ParseFloat: parsing {}: invalid syntax",
                go_quote(s)
            ))
        }),
        Value::Duration(ns) => Ok(*ns as f64),
        other => Err(FuncError::Call(format!(
            "can't convert {} to float",
            other.type_name()
        ))),
    }
}

/// Go's `strconv.ParseFloat` for the forms templates meet.
fn parse_go_float(s: &str) -> Option<f64> {
    let t = s.replace('_', "");
    match t.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => return Some(f64::INFINITY),
        "-inf" | "-infinity" => return Some(f64::NEG_INFINITY),
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if t.is_empty() || t.chars().any(|c| c.is_alphabetic() && c != 'e' && c != 'E') {
        return None;
    }
    t.parse().ok()
}

fn sample_arg(v: &Value) -> Result<Rc<QuerySample>, FuncError> {
    match v {
        Value::Sample(s) => Ok(s.clone()),
        Value::Nil => Err(FuncError::Call(
            "invalid memory address or nil pointer dereference".into(),
        )),
        other => Err(FuncError::Args(format!(
            "wrong type for value; expected *template.sample; got {}",
            other.type_name()
        ))),
    }
}

fn list_arg(v: &Value) -> Result<Rc<Vec<Value>>, FuncError> {
    match v {
        Value::List(l) => Ok(l.clone()),
        Value::Nil => Ok(Rc::new(Vec::new())),
        other => Err(FuncError::Args(format!(
            "wrong type for value; expected template.queryResult; got {}",
            other.type_name()
        ))),
    }
}

pub fn call_builtin(name: &str, args: Vec<Value>, env: &Env<'_>) -> FResult {
    match name {
        "not" => {
            want_args(name, &args, 1)?;
            Ok(Value::Bool(!args[0].is_true()))
        }
        "len" => {
            want_args(name, &args, 1)?;
            let n = match &args[0] {
                Value::Str(s) | Value::Html(s) => s.len(),
                Value::List(l) => l.len(),
                Value::Labels(m) => m.len(),
                Value::Map(m) => m.len(),
                other => {
                    return Err(FuncError::Call(format!(
                        "len of type {}",
                        other.type_name()
                    )))
                }
            };
            Ok(Value::Int(n as i64))
        }
        "index" => {
            let Some((item, idx)) = args.split_first() else {
                return Err(FuncError::Args(
                    "wrong number of args for index: want at least 1 got 0".into(),
                ));
            };
            let mut cur = item.clone();
            for i in idx {
                cur = index_value(&cur, i)?;
            }
            Ok(cur)
        }
        "slice" => {
            let Some((item, idx)) = args.split_first() else {
                return Err(FuncError::Args(
                    "wrong number of args for slice: want at least 1 got 0".into(),
                ));
            };
            slice_value(item, idx)
        }
        "print" => Ok(Value::Str(go_sprint(&args))),
        "println" => {
            let parts: Vec<String> = args.iter().map(|a| a.to_go_string()).collect();
            Ok(Value::Str(format!("{}\n", parts.join(" "))))
        }
        "printf" => {
            let Some((fmt, rest)) = args.split_first() else {
                return Err(FuncError::Args(
                    "wrong number of args for printf: want at least 1 got 0".into(),
                ));
            };
            Ok(Value::Str(go_sprintf(arg_str(fmt, "string")?, rest)))
        }
        "html" => Ok(Value::Str(html_escape(&go_sprint(&args)))),
        "js" => Ok(Value::Str(js_escape(&go_sprint(&args)))),
        "urlquery" => Ok(Value::Str(query_escape(&go_sprint(&args)))),
        "eq" => {
            let Some((first, rest)) = args.split_first() else {
                return Err(FuncError::Call("missing argument for comparison".into()));
            };
            if rest.is_empty() {
                return Err(FuncError::Call("missing argument for comparison".into()));
            }
            for r in rest {
                if compare(first, r, true)? == Some(std::cmp::Ordering::Equal) {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            want_args(name, &args, 2)?;
            let ord = compare(&args[0], &args[1], name == "ne")?;
            use std::cmp::Ordering::*;
            let b = match name {
                "ne" => ord != Some(Equal),
                "lt" => ord == Some(Less),
                "le" => matches!(ord, Some(Less | Equal)),
                "gt" => ord == Some(Greater),
                _ => matches!(ord, Some(Greater | Equal)),
            };
            Ok(Value::Bool(b))
        }
        "query" => {
            want_args(name, &args, 1)?;
            let q = arg_str(&args[0], "string")?;
            let Some(qf) = env.query else {
                return Err(FuncError::Call(
                    "query is not available in this template context".into(),
                ));
            };
            let res = qf(q, env.timestamp_ms).map_err(FuncError::Call)?;
            Ok(Value::list(
                res.into_iter().map(|s| Value::Sample(Rc::new(s))).collect(),
            ))
        }
        "first" => {
            want_args(name, &args, 1)?;
            let l = list_arg(&args[0])?;
            l.first()
                .cloned()
                .ok_or_else(|| FuncError::Call("first() called on vector with no elements".into()))
        }
        "label" => {
            want_args(name, &args, 2)?;
            let l = arg_str(&args[0], "string")?;
            let s = sample_arg(&args[1])?;
            Ok(Value::str(s.labels.get_or_empty(l)))
        }
        "value" => {
            want_args(name, &args, 1)?;
            Ok(Value::Float(sample_arg(&args[0])?.value))
        }
        "strvalue" => {
            want_args(name, &args, 1)?;
            Ok(Value::str(
                sample_arg(&args[0])?.labels.get_or_empty("__value__"),
            ))
        }
        "sortByLabel" => {
            want_args(name, &args, 2)?;
            let l = arg_str(&args[0], "string")?.to_string();
            let mut v: Vec<Value> = list_arg(&args[1])?.as_ref().clone();
            v.sort_by(|a, b| {
                let get = |x: &Value| match x {
                    Value::Sample(s) => s.labels.get_or_empty(&l).to_string(),
                    _ => String::new(),
                };
                get(a).cmp(&get(b))
            });
            Ok(Value::list(v))
        }
        "humanize" => {
            want_args(name, &args, 1)?;
            Ok(Value::Str(humanize(to_float(&args[0])?)))
        }
        "humanize1024" => {
            want_args(name, &args, 1)?;
            Ok(Value::Str(humanize1024(to_float(&args[0])?)))
        }
        "humanizeDuration" => {
            want_args(name, &args, 1)?;
            Ok(Value::Str(humanize_duration(to_float(&args[0])?)))
        }
        "humanizePercentage" => {
            want_args(name, &args, 1)?;
            Ok(Value::Str(format!(
                "{}%",
                fmt_g(to_float(&args[0])? * 100.0, 4)
            )))
        }
        "humanizeTimestamp" => {
            want_args(name, &args, 1)?;
            let v = to_float(&args[0])?;
            if v.is_nan() || v.is_infinite() {
                return Ok(Value::Str(fmt_g(v, 4)));
            }
            Ok(Value::Str(format_go_time(float_to_time(v)?)))
        }
        "toTime" => {
            want_args(name, &args, 1)?;
            Ok(Value::Time(float_to_time(to_float(&args[0])?)?))
        }
        "toDuration" => {
            want_args(name, &args, 1)?;
            let v = to_float(&args[0])?;
            let ns = v * 1e9;
            if !(ns.is_finite() && ns >= i64::MIN as f64 && ns <= i64::MAX as f64) {
                return Err(FuncError::Call(format!(
                    "{} cannot be represented as a nanoseconds duration since it overflows int64",
                    format_go_g(v)
                )));
            }
            Ok(Value::Duration(ns as i64))
        }
        "now" => {
            want_args(name, &args, 0)?;
            Ok(Value::Float(env.timestamp_ms as f64 / 1000.0))
        }
        "title" => {
            want_args(name, &args, 1)?;
            Ok(Value::Str(title(arg_str(&args[0], "string")?)))
        }
        "toUpper" => {
            want_args(name, &args, 1)?;
            Ok(Value::Str(arg_str(&args[0], "string")?.to_uppercase()))
        }
        "toLower" => {
            want_args(name, &args, 1)?;
            Ok(Value::Str(arg_str(&args[0], "string")?.to_lowercase()))
        }
        "stripPort" => {
            want_args(name, &args, 1)?;
            let s = arg_str(&args[0], "string")?;
            Ok(Value::str(
                split_host_port(s)
                    .map(|(h, _)| h)
                    .unwrap_or_else(|| s.to_string()),
            ))
        }
        "stripDomain" => {
            want_args(name, &args, 1)?;
            Ok(Value::Str(strip_domain(arg_str(&args[0], "string")?)))
        }
        "match" => {
            want_args(name, &args, 2)?;
            let re = regex::Regex::new(arg_str(&args[0], "string")?)
                .map_err(|e| FuncError::Call(e.to_string()))?;
            Ok(Value::Bool(re.is_match(arg_str(&args[1], "string")?)))
        }
        "reReplaceAll" => {
            want_args(name, &args, 3)?;
            let re = regex::Regex::new(arg_str(&args[0], "string")?)
                .map_err(|e| FuncError::Call(e.to_string()))?;
            let repl = arg_str(&args[1], "string")?;
            let text = arg_str(&args[2], "string")?;
            Ok(Value::Str(re.replace_all(text, repl).into_owned()))
        }
        "graphLink" | "tableLink" => {
            want_args(name, &args, 1)?;
            let tab = if name == "graphLink" { 0 } else { 1 };
            Ok(Value::Str(format!(
                "/graph?g0.expr={}&g0.tab={tab}",
                query_escape(arg_str(&args[0], "string")?)
            )))
        }
        "parseDuration" => {
            want_args(name, &args, 1)?;
            let ms = parse_duration(arg_str(&args[0], "string")?)
                .map_err(|e| FuncError::Call(e.to_string()))?;
            Ok(Value::Float(ms as f64 / 1000.0))
        }
        "urlQueryEscape" => {
            want_args(name, &args, 1)?;
            Ok(Value::Str(query_escape(arg_str(&args[0], "string")?)))
        }
        "args" => {
            let m: BTreeMap<String, Value> = args
                .into_iter()
                .enumerate()
                .map(|(i, v)| (format!("arg{i}"), v))
                .collect();
            Ok(Value::Map(Rc::new(m)))
        }
        "safeHtml" => {
            want_args(name, &args, 1)?;
            Ok(Value::Html(arg_str(&args[0], "string")?.to_string()))
        }
        "externalURL" => {
            want_args(name, &args, 0)?;
            Ok(Value::str(env.external_url))
        }
        "pathPrefix" => {
            want_args(name, &args, 0)?;
            Ok(Value::Str(url_path(env.external_url)))
        }
        other => Err(FuncError::Args(format!(
            "function {other:?} is not supported by promlite templates"
        ))),
    }
}

fn index_value(item: &Value, idx: &Value) -> FResult {
    match (item, idx) {
        (Value::List(l), Value::Int(i)) => usize::try_from(*i)
            .ok()
            .and_then(|u| l.get(u).cloned())
            .ok_or_else(|| FuncError::Call(format!("index out of range: {i}"))),
        (Value::Str(s), Value::Int(i)) => usize::try_from(*i)
            .ok()
            .and_then(|u| s.as_bytes().get(u).copied())
            .map(|b| Value::Int(i64::from(b)))
            .ok_or_else(|| FuncError::Call(format!("index out of range: {i}"))),
        (Value::Labels(m), Value::Str(k)) => Ok(Value::str(m.get(k).cloned().unwrap_or_default())),
        (Value::Map(m), Value::Str(k)) => Ok(m.get(k).cloned().unwrap_or(Value::Nil)),
        (Value::Nil, _) => Err(FuncError::Call("index of untyped nil".into())),
        (Value::List(_) | Value::Str(_), other) => Err(FuncError::Call(format!(
            "cannot index slice/array with type {}",
            other.type_name()
        ))),
        (Value::Labels(_) | Value::Map(_), other) => Err(FuncError::Call(format!(
            "value has type {}; should be string",
            other.type_name()
        ))),
        (other, _) => Err(FuncError::Call(format!(
            "can't index item of type {}",
            other.type_name()
        ))),
    }
}

fn slice_value(item: &Value, idx: &[Value]) -> FResult {
    let mut bounds = Vec::new();
    for i in idx {
        match i {
            Value::Int(n) if *n >= 0 => bounds.push(*n as usize),
            other => {
                return Err(FuncError::Call(format!(
                    "cannot index slice/array with type {}",
                    other.type_name()
                )))
            }
        }
    }
    let len = match item {
        Value::Str(s) => s.len(),
        Value::List(l) => l.len(),
        other => {
            return Err(FuncError::Call(format!(
                "can't slice item of type {}",
                other.type_name()
            )))
        }
    };
    let lo = bounds.first().copied().unwrap_or(0);
    let hi = bounds.get(1).copied().unwrap_or(len);
    if lo > hi || hi > len {
        return Err(FuncError::Call(format!("index out of range: {hi}")));
    }
    match item {
        Value::Str(s) => s
            .get(lo..hi)
            .map(Value::str)
            .ok_or_else(|| FuncError::Call("slice is not on a character boundary".into())),
        Value::List(l) => Ok(Value::list(l[lo..hi].to_vec())),
        _ => Ok(Value::Nil),
    }
}

/// Go's template comparison: same basic kinds only, else an error.
fn compare(a: &Value, b: &Value, eq_only: bool) -> Result<Option<std::cmp::Ordering>, FuncError> {
    let bad = || FuncError::Call("incompatible types for comparison".into());
    let invalid = || FuncError::Call("invalid type for comparison".into());
    Ok(match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        (Value::Str(x) | Value::Html(x), Value::Str(y) | Value::Html(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) if eq_only => Some(x.cmp(y)),
        (Value::Bool(_), Value::Bool(_)) => return Err(invalid()),
        (Value::Nil, Value::Nil) if eq_only => Some(std::cmp::Ordering::Equal),
        (Value::Nil, _) | (_, Value::Nil) if eq_only => None,
        (
            Value::Int(_) | Value::Float(_) | Value::Str(_) | Value::Html(_) | Value::Bool(_),
            Value::Int(_) | Value::Float(_) | Value::Str(_) | Value::Html(_) | Value::Bool(_),
        ) => return Err(bad()),
        _ => return Err(invalid()),
    })
}

/// Go's `fmt.Sprint`: a space between operands when neither is a string.
fn go_sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let is_str = |v: &Value| matches!(v, Value::Str(_) | Value::Html(_));
        if i > 0 && !is_str(a) && !is_str(&args[i - 1]) {
            out.push(' ');
        }
        out.push_str(&a.to_go_string());
    }
    out
}

/// Caps printf widths and precisions: a template must not be able to ask
/// for gigabytes of padding (Go caps these at 1e6 too).
const MAX_FMT_WIDTH: usize = 1_000_000;

#[derive(Default)]
struct Flags {
    minus: bool,
    plus: bool,
    zero: bool,
    space: bool,
    sharp: bool,
}

/// Go's `fmt.Sprintf` for the verbs rule writers use.
pub fn go_sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut argi = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = Flags::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => flags.minus = true,
                '+' => flags.plus = true,
                '0' => flags.zero = true,
                ' ' => flags.space = true,
                '#' => flags.sharp = true,
                _ => break,
            }
            chars.next();
        }
        let mut width = None;
        while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
            width = Some((width.unwrap_or(0) * 10 + d as usize).min(MAX_FMT_WIDTH));
            chars.next();
        }
        let mut prec = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = 0;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                p = (p * 10 + d as usize).min(MAX_FMT_WIDTH);
                chars.next();
            }
            prec = Some(p);
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(argi) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        argi += 1;
        let body = format_verb(arg, verb, &flags, prec);
        let numeric = matches!(arg, Value::Int(_) | Value::Float(_));
        out.push_str(&pad(body, width, &flags, numeric));
    }
    if argi < args.len() {
        let extra: Vec<String> = args[argi..]
            .iter()
            .map(|a| format!("{}={}", a.type_name(), a.to_go_string()))
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn pad(body: String, width: Option<usize>, flags: &Flags, numeric: bool) -> String {
    let Some(w) = width else { return body };
    let n = body.chars().count();
    if n >= w {
        return body;
    }
    let fill = w - n;
    if flags.minus {
        format!("{body}{}", " ".repeat(fill))
    } else if flags.zero && numeric {
        let (sign, digits) = match body.strip_prefix(['-', '+']) {
            Some(d) => (&body[..1], d),
            None => ("", body.as_str()),
        };
        format!("{sign}{}{digits}", "0".repeat(fill))
    } else {
        format!("{}{body}", " ".repeat(fill))
    }
}

fn bad_verb(verb: char, v: &Value) -> String {
    match v {
        Value::Nil => format!("%!{verb}(<nil>)"),
        _ => format!("%!{verb}({}={})", v.type_name(), v.to_go_string()),
    }
}

fn sign(s: String, flags: &Flags, neg: bool) -> String {
    if neg {
        s
    } else if flags.plus {
        format!("+{s}")
    } else if flags.space {
        format!(" {s}")
    } else {
        s
    }
}

fn format_verb(v: &Value, verb: char, flags: &Flags, prec: Option<usize>) -> String {
    match (verb, v) {
        ('v', Value::Float(f)) => match prec {
            Some(p) => sign(fmt_g(*f, p.max(1)), flags, *f < 0.0),
            None => sign(format_go_g(*f), flags, *f < 0.0 || f.is_nan()),
        },
        ('v', Value::Int(i)) | ('d', Value::Int(i)) => sign(i.to_string(), flags, *i < 0),
        ('v', other) => other.to_go_string(),
        ('s', Value::Str(s) | Value::Html(s)) => match prec {
            Some(p) => s.chars().take(p).collect(),
            None => s.clone(),
        },
        (
            's',
            v @ (Value::Labels(_)
            | Value::Map(_)
            | Value::List(_)
            | Value::Time(_)
            | Value::Duration(_)),
        ) => v.to_go_string(),
        ('q', Value::Str(s) | Value::Html(s)) => {
            if flags.sharp && !s.contains('`') {
                format!("`{s}`")
            } else {
                go_quote(s)
            }
        }
        ('q', Value::Int(i)) => match u32::try_from(*i).ok().and_then(char::from_u32) {
            Some(c) => format!("{c:?}"),
            None => bad_verb(verb, v),
        },
        // Go's type of the value; tells `safeHtml`'s output from a string.
        ('T', v) => v.type_name().to_string(),
        ('t', Value::Bool(b)) => b.to_string(),
        ('c', Value::Int(i)) => u32::try_from(*i)
            .ok()
            .and_then(char::from_u32)
            .map(String::from)
            .unwrap_or_else(|| "\u{fffd}".into()),
        ('x', Value::Int(i)) => sign(
            if *i < 0 {
                format!("-{:x}", i.unsigned_abs())
            } else {
                format!("{i:x}")
            },
            flags,
            *i < 0,
        ),
        ('X', Value::Int(i)) => sign(
            if *i < 0 {
                format!("-{:X}", i.unsigned_abs())
            } else {
                format!("{i:X}")
            },
            flags,
            *i < 0,
        ),
        ('o', Value::Int(i)) => format!("{i:o}"),
        ('b', Value::Int(i)) => format!("{i:b}"),
        ('x', Value::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
        ('X', Value::Str(s)) => s.bytes().map(|b| format!("{b:02X}")).collect(),
        ('f' | 'F', Value::Float(f)) => sign(fmt_f(*f, prec.unwrap_or(6)), flags, *f < 0.0),
        ('e' | 'E', Value::Float(f)) => {
            let s = fmt_e(*f, prec.unwrap_or(6));
            sign(
                if verb == 'E' { s.to_uppercase() } else { s },
                flags,
                *f < 0.0,
            )
        }
        ('g' | 'G', Value::Float(f)) => {
            let s = match prec {
                Some(p) => fmt_g(*f, p.max(1)),
                None => format_go_g(*f),
            };
            sign(
                if verb == 'G' { s.to_uppercase() } else { s },
                flags,
                *f < 0.0,
            )
        }
        _ => bad_verb(verb, v),
    }
}

fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        Some("NaN".into())
    } else if v.is_infinite() {
        Some(if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        })
    } else {
        None
    }
}

/// Go's `%.{prec}f`.
pub fn fmt_f(v: f64, prec: usize) -> String {
    special(v).unwrap_or_else(|| format!("{v:.prec$}"))
}

/// Go's `%.{prec}e` (`1.500000e+06`).
pub fn fmt_e(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let s = format!("{v:.prec$e}");
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
}

/// Go's `%.{prec}g`: `prec` significant digits, trailing zeros dropped,
/// exponent form when the exponent is < -4 or >= `prec`.
pub fn fmt_g(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let prec = prec.max(1);
    let s = format!("{:.*e}", prec - 1, v.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    let nd = digits.len() as i32;
    let dp = exp + 1;
    let mut eprec = prec as i32;
    if eprec > nd && nd >= dp {
        eprec = nd;
    }
    let mut out = String::new();
    if v < 0.0 {
        out.push('-');
    }
    if exp < -4 || exp >= eprec {
        out.push_str(&digits[..1]);
        if nd > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push_str(&format!(
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        ));
    } else if dp <= 0 {
        out.push_str("0.");
        out.push_str(&"0".repeat((-dp) as usize));
        out.push_str(digits);
    } else if dp >= nd {
        out.push_str(digits);
        out.push_str(&"0".repeat((dp - nd) as usize));
    } else {
        out.push_str(&digits[..dp as usize]);
        out.push('.');
        out.push_str(&digits[dp as usize..]);
    }
    out
}

pub fn humanize(mut v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return fmt_g(v, 4);
    }
    let mut prefix = "";
    if v.abs() >= 1.0 {
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
    } else {
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if v.abs() >= 1.0 || v == 0.0 {
                break;
            }
            prefix = p;
            v *= 1000.0;
        }
    }
    format!("{}{prefix}", fmt_g(v, 4))
}

pub fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return fmt_g(v, 4);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", fmt_g(v, 4))
}

pub fn humanize_duration(mut v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return fmt_g(v, 4);
    }
    if v == 0.0 {
        return format!("{}s", fmt_g(v, 4));
    }
    if v.abs() >= 1.0 {
        let sign = if v < 0.0 { "-" } else { "" };
        v = v.abs();
        let d = v as i64;
        let (secs, mins, hours, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        if days != 0 {
            return format!("{sign}{days}d {hours}h {mins}m {secs}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {mins}m {secs}s");
        }
        if mins != 0 {
            return format!("{sign}{mins}m {secs}s");
        }
        return format!("{sign}{}s", fmt_g(v, 4));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", fmt_g(v, 4))
}

/// Upstream's `floatToTime`: seconds to a millisecond-precision time (as ns).
fn float_to_time(v: f64) -> Result<i64, FuncError> {
    let ns = v * 1e9;
    if !(ns.is_finite() && ns > i64::MIN as f64 && ns < i64::MAX as f64) {
        return Err(FuncError::Call(format!(
            "{} cannot be represented as a nanoseconds timestamp since it overflows int64",
            format_go_g(v)
        )));
    }
    let ms = (ns as i64) / 1_000_000;
    Ok(ms * 1_000_000)
}

struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    min: i64,
    sec: i64,
    nanos: i64,
    weekday: usize,
}

fn civil(ns: i64) -> Civil {
    let secs = ns.div_euclid(1_000_000_000);
    let nanos = ns.rem_euclid(1_000_000_000);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    Civil {
        year,
        month,
        day,
        hour: sod / 3600,
        min: (sod / 60) % 60,
        sec: sod % 60,
        nanos,
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7) as usize,
    }
}

/// Go's `time.Time.String()` for a UTC time: `2015-06-23 13:19:44.128 +0000 UTC`.
pub fn format_go_time(ns: i64) -> String {
    format_go_layout(ns, "2006-01-02 15:04:05.999999999 -0700 MST")
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Go's `time.Format` for the common layout elements, in UTC.
pub fn format_go_layout(ns: i64, layout: &str) -> String {
    let c = civil(ns);
    let month = MONTHS[(c.month as usize).saturating_sub(1) % 12];
    let day = DAYS[c.weekday % 7];
    let mut out = String::new();
    let mut rest = layout;
    while !rest.is_empty() {
        // Fractional seconds: `.000` keeps zeros, `.999` drops trailing zeros.
        if rest.starts_with(".0") || rest.starts_with(".9") {
            let digit = rest.as_bytes()[1];
            let n = rest[1..].bytes().take_while(|&b| b == digit).count();
            if !rest[1 + n..].starts_with(|ch: char| ch.is_ascii_digit()) {
                let frac = format!("{:09}", c.nanos);
                let frac = &frac[..n.min(9)];
                if digit == b'0' {
                    out.push('.');
                    out.push_str(frac);
                } else {
                    let t = frac.trim_end_matches('0');
                    if !t.is_empty() {
                        out.push('.');
                        out.push_str(t);
                    }
                }
                rest = &rest[1 + n..];
                continue;
            }
        }
        let table: &[(&str, String)] = &[
            ("January", month.to_string()),
            ("Monday", day.to_string()),
            ("2006", format!("{:04}", c.year)),
            ("Jan", month[..3].to_string()),
            ("Mon", day[..3].to_string()),
            ("MST", "UTC".to_string()),
            ("Z07:00", "Z".to_string()),
            ("-07:00", "+00:00".to_string()),
            ("-0700", "+0000".to_string()),
            ("01", format!("{:02}", c.month)),
            ("02", format!("{:02}", c.day)),
            ("_2", format!("{:>2}", c.day)),
            ("15", format!("{:02}", c.hour)),
            ("03", format!("{:02}", (c.hour + 11) % 12 + 1)),
            ("04", format!("{:02}", c.min)),
            ("05", format!("{:02}", c.sec)),
            ("06", format!("{:02}", c.year.rem_euclid(100))),
            ("PM", if c.hour >= 12 { "PM" } else { "AM" }.to_string()),
            ("pm", if c.hour >= 12 { "pm" } else { "am" }.to_string()),
            ("1", c.month.to_string()),
            ("2", c.day.to_string()),
            ("3", ((c.hour + 11) % 12 + 1).to_string()),
            ("4", c.min.to_string()),
            ("5", c.sec.to_string()),
        ];
        if let Some((tok, val)) = table.iter().find(|(t, _)| rest.starts_with(t)) {
            out.push_str(val);
            rest = &rest[tok.len()..];
        } else {
            let ch = rest.chars().next().unwrap_or(' ');
            out.push(ch);
            rest = &rest[ch.len_utf8()..];
        }
    }
    out
}

/// Go's `time.Duration.String()` (`1h2m3.5s`, `150ms`, `0s`).
pub fn format_go_duration(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let frac = |v: u64, digits: u32| -> String {
        let p = 10u64.pow(digits);
        let (w, f) = (v / p, v % p);
        if f == 0 {
            w.to_string()
        } else {
            let fs = format!("{:0width$}", f, width = digits as usize);
            format!("{w}.{}", fs.trim_end_matches('0'))
        }
    };
    let body = if u < 1_000 {
        format!("{u}ns")
    } else if u < 1_000_000 {
        format!("{}µs", frac(u, 3))
    } else if u < 1_000_000_000 {
        format!("{}ms", frac(u, 6))
    } else {
        let secs_part = frac(u % 60_000_000_000, 9);
        let mins = u / 60_000_000_000;
        if mins == 0 {
            format!("{secs_part}s")
        } else if mins < 60 {
            format!("{mins}m{secs_part}s")
        } else {
            format!("{}h{}m{secs_part}s", mins / 60, mins % 60)
        }
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

/// Methods of `*time.Time` a template can call.
pub fn time_method(ns: i64, name: &str, args: &[Value]) -> Result<Value, String> {
    match (name, args) {
        ("Format", [Value::Str(layout)]) => Ok(Value::Str(format_go_layout(ns, layout))),
        ("Unix", []) => Ok(Value::Int(ns.div_euclid(1_000_000_000))),
        ("UnixMilli", []) => Ok(Value::Int(ns.div_euclid(1_000_000))),
        ("UnixNano", []) => Ok(Value::Int(ns)),
        ("UTC", []) | ("Local", []) => Ok(Value::Time(ns)),
        ("String", []) => Ok(Value::Str(format_go_time(ns))),
        ("Year", []) => Ok(Value::Int(civil(ns).year)),
        ("Format", _) => Err("wrong number of args for Format: want 1 got 0".into()),
        _ => Err(format!("can't evaluate field {name} in type *time.Time")),
    }
}

/// Methods of `*time.Duration` a template can call.
pub fn duration_method(ns: i64, name: &str, args: &[Value]) -> Result<Value, String> {
    match (name, args) {
        ("Seconds", []) => Ok(Value::Float(ns as f64 / 1e9)),
        ("Minutes", []) => Ok(Value::Float(ns as f64 / 6e10)),
        ("Hours", []) => Ok(Value::Float(ns as f64 / 3.6e12)),
        ("Milliseconds", []) => Ok(Value::Int(ns / 1_000_000)),
        ("String", []) => Ok(Value::Str(format_go_duration(ns))),
        _ => Err(format!(
            "can't evaluate field {name} in type *time.Duration"
        )),
    }
}

/// `cases.Title(language.AND, cases.NoLower)`: upper-case each word's first letter.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at_start = true;
    for c in s.chars() {
        if at_start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_start = !(c.is_alphanumeric() || c == '\'');
    }
    out
}

/// Go's `net.SplitHostPort`; `None` where Go returns an error.
fn split_host_port(s: &str) -> Option<(String, String)> {
    let colon = s.rfind(':')?;
    let (host, port) = (&s[..colon], &s[colon + 1..]);
    if let Some(inner) = host.strip_prefix('[') {
        let inner = inner.strip_suffix(']')?;
        if inner.contains(']') || inner.contains('[') {
            return None;
        }
        return Some((inner.to_string(), port.to_string()));
    }
    if host.contains(':') || host.contains('[') || host.contains(']') {
        return None;
    }
    Some((host.to_string(), port.to_string()))
}

fn strip_domain(host_port: &str) -> String {
    let (host, port) = split_host_port(host_port).unwrap_or((host_port.to_string(), String::new()));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return host_port.to_string();
    }
    let short = host.split('.').next().unwrap_or("").to_string();
    if port.is_empty() {
        short
    } else if short.contains(':') {
        format!("[{short}]:{port}")
    } else {
        format!("{short}:{port}")
    }
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn html_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c => out.push(c),
        }
    }
    out
}

/// The path part of an URL (`http://h:9090/p/q?x` → `/p/q`).
fn url_path(url: &str) -> String {
    let after_scheme = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    match after_scheme.find('/') {
        Some(i) => {
            let p = &after_scheme[i..];
            p.split(['?', '#']).next().unwrap_or("").to_string()
        }
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_g_with_precision() {
        for (v, p, s) in [
            (1234.567, 4, "1235"),
            (1.2345678, 4, "1.235"),
            (100.0, 4, "100"),
            (123456700.0, 4, "1.235e+08"),
            (0.12, 4, "0.12"),
            (-22.222, 4, "-22.22"),
            (0.0, 4, "0"),
            (f64::INFINITY, 4, "+Inf"),
        ] {
            assert_eq!(fmt_g(v, p), s, "{v}");
        }
    }

    #[test]
    fn sprintf_verbs() {
        let f = |fmt: &str, a: Vec<Value>| go_sprintf(fmt, &a);
        assert_eq!(f("%0.2f", vec![Value::Float(3720.01)]), "3720.01");
        assert_eq!(f("%d items", vec![Value::Int(5)]), "5 items");
        assert_eq!(
            f("%s=%q", vec![Value::str("a"), Value::str("b")]),
            "a=\"b\""
        );
        assert_eq!(
            f("%5.1f|%-4d|", vec![Value::Float(2.25), Value::Int(7)]),
            "  2.2|7   |"
        );
        assert_eq!(f("%d", vec![Value::str("x")]), "%!d(string=x)");
        assert_eq!(f("%d %d", vec![Value::Int(1)]), "1 %!d(MISSING)");
        assert_eq!(f("%v", vec![Value::Float(1e6)]), "1e+06");
        assert_eq!(f("%e", vec![Value::Float(1500.0)]), "1.500000e+03");
        // Absurd widths are capped instead of overflowing.
        assert_eq!(
            f("%99999999999999999999999d", vec![Value::Int(1)]).len(),
            MAX_FMT_WIDTH
        );
    }

    #[test]
    fn durations_and_times() {
        assert_eq!(format_go_duration(3_723_500_000_000), "1h2m3.5s");
        assert_eq!(format_go_duration(150_000_000), "150ms");
        assert_eq!(
            format_go_time(1_435_065_584_128_000_000),
            "2015-06-23 13:19:44.128 +0000 UTC"
        );
        assert_eq!(
            format_go_layout(0, "Mon Jan _2 15:04:05 2006"),
            "Thu Jan  1 00:00:00 1970"
        );
    }

    #[test]
    fn host_helpers() {
        assert_eq!(strip_domain("foo.example.com:12345"), "foo:12345");
        assert_eq!(strip_domain("192.0.2.1:12345"), "192.0.2.1:12345");
        assert_eq!(url_path("http://testhost:9090/path/prefix"), "/path/prefix");
        assert_eq!(title("aa bb CC"), "Aa Bb CC");
    }
}
