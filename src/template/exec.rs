//! Execution of a parsed template tree against a data value: variables and
//! their scopes, field access, pipelines, `if`/`range`/`with`, `template`,
//! `break`/`continue`, and errors with Go's `executing "name" at <node>` form.

use std::fmt;

use super::funcs::{call_builtin, FuncError};
use super::lex::line_of;
use super::parse::{Arg, ArgKind, Branch, Command, Node, Pipe, Tree};
use super::value::Value;
use super::{Env, TemplateError};

/// Nesting limit for `template` calls, as Go's `maxExecDepth` guards recursion.
const MAX_EXEC_DEPTH: usize = 1000;

/// Loop iterations one execution may run. Go has no such limit, but a rule
/// group's thread must not hang on `{{ range 100000000000 }}`.
const MAX_RANGE_STEPS: usize = 1_000_000;

/// Where an execution error happened: the node's position and its text.
struct ExecError {
    pos: usize,
    node: String,
    msg: String,
}

enum Flow {
    Normal,
    Break,
    Continue,
}

pub fn execute(tree: &Tree, data: Value, env: &Env<'_>) -> Result<String, TemplateError> {
    let mut st = State {
        tree,
        env,
        vars: vec![("$".to_string(), data.clone())],
        out: String::new(),
        depth: 0,
        steps: 0,
    };
    match st.walk_list(&data, &tree.root) {
        Ok(_) => Ok(st.out),
        Err(e) => {
            let before = &tree.text[..e.pos.min(tree.text.len())];
            let col = match before.rfind('\n') {
                Some(nl) => e.pos - nl - 1,
                None => e.pos,
            };
            Err(TemplateError::Exec {
                name: tree.name.clone(),
                line: line_of(&tree.text, e.pos),
                col,
                node: e.node,
                msg: e.msg,
            })
        }
    }
}

struct State<'a> {
    tree: &'a Tree,
    env: &'a Env<'a>,
    vars: Vec<(String, Value)>,
    out: String,
    depth: usize,
    steps: usize,
}

impl<'a> State<'a> {
    fn walk_list(&mut self, dot: &Value, list: &[Node]) -> Result<Flow, ExecError> {
        for n in list {
            match self.walk(dot, n)? {
                Flow::Normal => {}
                other => return Ok(other),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk(&mut self, dot: &Value, node: &Node) -> Result<Flow, ExecError> {
        match node {
            Node::Text(t) => self.out.push_str(t),
            Node::Action(pipe) => {
                let v = self.eval_pipeline(dot, pipe)?;
                // An action that only declares or assigns prints nothing.
                if pipe.decl.is_empty() {
                    self.out.push_str(&v.to_go_string());
                }
            }
            Node::If(b) | Node::With(b) => {
                let mark = self.vars.len();
                let v = self.eval_pipeline(dot, &b.pipe)?;
                let flow = if v.is_true() {
                    let new_dot = if matches!(node, Node::With(_)) {
                        v
                    } else {
                        dot.clone()
                    };
                    self.walk_list(&new_dot, &b.list)?
                } else if let Some(el) = &b.else_list {
                    self.walk_list(dot, el)?
                } else {
                    Flow::Normal
                };
                self.vars.truncate(mark);
                return Ok(flow);
            }
            Node::Range(b) => return self.walk_range(dot, b),
            Node::Template { pos, name, pipe } => {
                let Some(list) = self.tree.defines.get(name) else {
                    return Err(ExecError {
                        pos: *pos,
                        node: format!("{{{{template {name:?}}}}}"),
                        msg: format!("no such template {name:?}"),
                    });
                };
                let new_dot = match pipe {
                    Some(p) => self.eval_pipeline(dot, p)?,
                    None => Value::Nil,
                };
                self.call_template(*pos, list, new_dot)?;
            }
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn call_template(&mut self, pos: usize, list: &[Node], dot: Value) -> Result<(), ExecError> {
        if self.depth >= MAX_EXEC_DEPTH {
            return Err(ExecError {
                pos,
                node: "template".into(),
                msg: format!("exceeded maximum template depth ({MAX_EXEC_DEPTH})"),
            });
        }
        let saved = std::mem::replace(&mut self.vars, vec![("$".to_string(), dot.clone())]);
        self.depth += 1;
        let r = self.walk_list(&dot, list);
        self.depth -= 1;
        self.vars = saved;
        r.map(|_| ())
    }

    fn walk_range(&mut self, dot: &Value, b: &Branch) -> Result<Flow, ExecError> {
        let mark = self.vars.len();
        let v = self.eval_pipeline(dot, &b.pipe)?;
        // The pipeline's own declaration was pushed with the whole value;
        // inside the loop it names the element (and index) instead.
        self.vars.truncate(mark);
        // Elements are produced as the loop goes: `range 1000000000` must
        // not allocate them all up front.
        let items: Box<dyn Iterator<Item = (Value, Value)>> = match v {
            Value::List(l) => Box::new(
                (0..l.len())
                    .filter_map(move |i| l.get(i).map(|e| (Value::Int(i as i64), e.clone()))),
            ),
            Value::Labels(m) => Box::new(
                m.iter()
                    .map(|(k, v)| (Value::str(k.clone()), Value::str(v.clone())))
                    .collect::<Vec<_>>()
                    .into_iter(),
            ),
            Value::Map(m) => Box::new(
                m.iter()
                    .map(|(k, v)| (Value::str(k.clone()), v.clone()))
                    .collect::<Vec<_>>()
                    .into_iter(),
            ),
            Value::Int(n) => Box::new((0..n).map(|i| (Value::Int(i), Value::Int(i)))),
            Value::Nil => Box::new(std::iter::empty()),
            other => {
                return Err(ExecError {
                    pos: b.pos,
                    node: format!("range {}", pipe_string(&b.pipe)),
                    msg: format!("range can't iterate over {}", other.to_go_string()),
                })
            }
        };
        let mut items = items.peekable();
        if items.peek().is_none() {
            let flow = match &b.else_list {
                Some(el) => self.walk_list(dot, el)?,
                None => Flow::Normal,
            };
            self.vars.truncate(mark);
            return Ok(flow);
        }
        for (k, elem) in items {
            self.steps += 1;
            if self.steps > MAX_RANGE_STEPS {
                return Err(ExecError {
                    pos: b.pos,
                    node: format!("range {}", pipe_string(&b.pipe)),
                    msg: format!("range exceeded {MAX_RANGE_STEPS} iterations"),
                });
            }
            let inner = self.vars.len();
            match b.pipe.decl.as_slice() {
                [one] => self.set_or_push(one, elem.clone(), b.pipe.is_assign),
                [first, second] => {
                    self.set_or_push(first, k, b.pipe.is_assign);
                    self.set_or_push(second, elem.clone(), b.pipe.is_assign);
                }
                _ => {}
            }
            let flow = self.walk_list(&elem, &b.list)?;
            self.vars.truncate(inner);
            if let Flow::Break = flow {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Normal)
    }

    fn set_or_push(&mut self, name: &str, v: Value, assign: bool) {
        if assign {
            if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                slot.1 = v;
                return;
            }
        }
        self.vars.push((name.to_string(), v));
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &Pipe) -> Result<Value, ExecError> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        let v = value.unwrap_or(Value::Nil);
        for name in &pipe.decl {
            self.set_or_push(name, v.clone(), pipe.is_assign);
        }
        Ok(v)
    }

    fn eval_command(
        &mut self,
        dot: &Value,
        cmd: &Command,
        fin: Option<Value>,
    ) -> Result<Value, ExecError> {
        let Some(first) = cmd.args.first() else {
            return Ok(Value::Nil);
        };
        let rest = &cmd.args[1..];
        match &first.kind {
            ArgKind::Ident(name) => self.eval_function(dot, cmd, name, rest, fin),
            ArgKind::Field(fields) => self.eval_fields(dot, dot.clone(), fields, first, rest, fin),
            ArgKind::Variable(v, fields) => {
                let base = self.var(v);
                self.eval_fields(dot, base, fields, first, rest, fin)
            }
            ArgKind::Chain(inner, fields) => {
                let base = self.eval_arg(dot, inner)?;
                self.eval_fields(dot, base, fields, first, rest, fin)
            }
            _ => {
                if !rest.is_empty() || fin.is_some() {
                    return Err(ExecError {
                        pos: first.pos,
                        node: arg_string(first),
                        msg: format!("can't give argument to non-function {}", arg_string(first)),
                    });
                }
                self.eval_arg(dot, first)
            }
        }
    }

    fn var(&self, name: &str) -> Value {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Nil)
    }

    /// Evaluates an argument in operand position (no trailing args).
    fn eval_arg(&mut self, dot: &Value, arg: &Arg) -> Result<Value, ExecError> {
        Ok(match &arg.kind {
            ArgKind::Dot => dot.clone(),
            ArgKind::Nil => Value::Nil,
            ArgKind::Bool(b) => Value::Bool(*b),
            ArgKind::Str(s) => Value::Str(s.clone()),
            ArgKind::Number(n) => {
                if n.is_float_literal() {
                    Value::Float(n.float.unwrap_or(f64::NAN))
                } else {
                    Value::Int(n.int.unwrap_or(0))
                }
            }
            ArgKind::Field(fields) => self.eval_fields(dot, dot.clone(), fields, arg, &[], None)?,
            ArgKind::Variable(v, fields) => {
                let base = self.var(v);
                self.eval_fields(dot, base, fields, arg, &[], None)?
            }
            ArgKind::Chain(inner, fields) => {
                let base = self.eval_arg(dot, inner)?;
                self.eval_fields(dot, base, fields, arg, &[], None)?
            }
            ArgKind::Pipe(p) => {
                let mark = self.vars.len();
                let v = self.eval_pipeline(dot, p)?;
                self.vars.truncate(mark);
                v
            }
            ArgKind::Ident(name) => {
                let cmd = Command {
                    pos: arg.pos,
                    args: vec![arg.clone()],
                };
                self.eval_function(dot, &cmd, name, &[], None)?
            }
        })
    }

    /// Walks `.A.B` from `base`; the last field may be a method taking `args`.
    fn eval_fields(
        &mut self,
        dot: &Value,
        base: Value,
        fields: &[String],
        node: &Arg,
        args: &[Arg],
        fin: Option<Value>,
    ) -> Result<Value, ExecError> {
        let mut cur = base;
        for (i, f) in fields.iter().enumerate() {
            let last = i + 1 == fields.len();
            let mut call_args = Vec::new();
            if last {
                for a in args {
                    call_args.push(self.eval_arg(dot, a)?);
                }
                if let Some(v) = &fin {
                    call_args.push(v.clone());
                }
            }
            cur = field(&cur, f, &call_args).map_err(|msg| ExecError {
                pos: node.pos,
                node: arg_string(node),
                msg,
            })?;
        }
        if fields.is_empty() && (!args.is_empty() || fin.is_some()) {
            return Err(ExecError {
                pos: node.pos,
                node: arg_string(node),
                msg: format!("can't give argument to non-function {}", arg_string(node)),
            });
        }
        Ok(cur)
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        cmd: &Command,
        name: &str,
        args: &[Arg],
        fin: Option<Value>,
    ) -> Result<Value, ExecError> {
        let at = |msg: String| ExecError {
            pos: cmd.pos,
            node: command_string(cmd),
            msg,
        };
        // `and`/`or` stop at the first deciding argument, as Go 1.18+ does.
        if name == "and" || name == "or" {
            let total = args.len() + usize::from(fin.is_some());
            if total == 0 {
                return Err(at(format!(
                    "wrong number of args for {name}: want at least 1 got 0"
                )));
            }
            let mut last = Value::Nil;
            for a in args {
                last = self.eval_arg(dot, a)?;
                if (name == "and") != last.is_true() {
                    return Ok(last);
                }
            }
            if let Some(v) = fin {
                last = v;
            }
            return Ok(last);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.eval_arg(dot, a)?);
        }
        if let Some(v) = fin {
            vals.push(v);
        }
        if name == "tmpl" {
            let (Some(Value::Str(tname)), Some(data)) = (vals.first(), vals.get(1)) else {
                return Err(at(
                    "error calling tmpl: tmpl takes a template name and data".into(),
                ));
            };
            let Some(list) = self.tree.defines.get(tname) else {
                return Err(at(format!(
                    "error calling tmpl: no such template {tname:?}"
                )));
            };
            let saved = std::mem::take(&mut self.out);
            self.call_template(cmd.pos, list, data.clone())?;
            let rendered = std::mem::replace(&mut self.out, saved);
            return Ok(Value::Html(rendered));
        }
        call_builtin(name, vals, self.env).map_err(|e| match e {
            FuncError::Call(msg) => at(format!("error calling {name}: {msg}")),
            FuncError::Args(msg) => at(msg),
        })
    }
}

/// Field or method `name` of `v`, with Go's messages for what cannot be done.
fn field(v: &Value, name: &str, args: &[Value]) -> Result<Value, String> {
    match v {
        Value::Labels(m) if args.is_empty() => {
            Ok(Value::Str(m.get(name).cloned().unwrap_or_default()))
        }
        Value::Map(m) if args.is_empty() => Ok(m.get(name).cloned().unwrap_or(Value::Nil)),
        Value::Nil => Ok(Value::Nil),
        Value::Sample(s) if args.is_empty() => match name {
            "Labels" => Ok(Value::labels(&s.labels)),
            "Value" => Ok(Value::Float(s.value)),
            _ => Err(format!(
                "can't evaluate field {name} in type *template.sample"
            )),
        },
        Value::Time(ns) => super::funcs::time_method(*ns, name, args),
        Value::Duration(ns) => super::funcs::duration_method(*ns, name, args),
        _ if !args.is_empty() => Err(format!(
            "{name} has arguments but cannot be invoked as function"
        )),
        other => Err(format!(
            "can't evaluate field {name} in type {}",
            other.type_name()
        )),
    }
}

/// Go's `String()` of a node, used in `at <...>`.
fn arg_string(a: &Arg) -> String {
    match &a.kind {
        ArgKind::Dot => ".".into(),
        ArgKind::Nil => "nil".into(),
        ArgKind::Bool(b) => b.to_string(),
        ArgKind::Number(n) => n.text.clone(),
        ArgKind::Str(s) => format!("{s:?}"),
        ArgKind::Field(f) => f.iter().map(|f| format!(".{f}")).collect(),
        ArgKind::Variable(v, f) => {
            format!(
                "{v}{}",
                f.iter().map(|f| format!(".{f}")).collect::<String>()
            )
        }
        ArgKind::Ident(i) => i.clone(),
        ArgKind::Pipe(p) => format!("({})", pipe_string(p)),
        ArgKind::Chain(inner, f) => format!(
            "{}{}",
            arg_string(inner),
            f.iter().map(|f| format!(".{f}")).collect::<String>()
        ),
    }
}

fn command_string(c: &Command) -> String {
    c.args.iter().map(arg_string).collect::<Vec<_>>().join(" ")
}

fn pipe_string(p: &Pipe) -> String {
    let mut s = String::new();
    if !p.decl.is_empty() {
        s.push_str(&p.decl.join(", "));
        s.push_str(if p.is_assign { " = " } else { " := " });
    }
    s.push_str(
        &p.cmds
            .iter()
            .map(command_string)
            .collect::<Vec<_>>()
            .join(" | "),
    );
    s
}

impl fmt::Debug for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at <{}>: {}", self.pos, self.node, self.msg)
    }
}
