//! Nomad job specifications (HCL2) to [`drover_api::Job`]: the logic behind
//! `PUT /v1/jobs/parse` and `drover job run FILE`.
//!
//! The parser walks `hcl::Body` itself instead of deserializing through
//! serde. Nomad's job spec is not a plain data format: blocks such as
//! `constraint` have shorthands that rewrite other fields, `meta` and `env`
//! may be blocks or attributes, ports sort themselves into reserved and
//! dynamic, and task driver `config` has its own shape. A hand walk handles
//! those directly, and knows at every step where it is, so errors name the
//! path (`job.group["cache"].restart.interval: invalid duration "3x"`).
//!
//! What the parser produces is Nomad's *parsed, not canonicalized* job: no
//! defaults are applied (a missing `priority` is 0, which canonicalization
//! makes 50). A missing `count` is 0 in [`Parsed::job`] but `null` in
//! [`Parsed::to_json`], as in Nomad's parser output, so canonicalizing or
//! registering that JSON gives the group Nomad's default of 1 while a written
//! `count = 0` stays 0. `ID` and `Name` default to the job block's label, as
//! in Nomad's parser.
//!
//! Unknown names: every block decoder knows the full attribute and block set
//! Nomad accepts there. Names Drover models are decoded; names Nomad has but
//! Drover does not model (`service`, `template`, `artifact`, `vault`,
//! `volume`, `lifecycle`, a task's `scaling`, `migrate`, `consul`,
//! `identity`, `max_client_disconnect`, ...) are skipped with a warning in
//! [`Parsed::warnings`]; anything else is an error, as in Nomad, so a typo
//! such as `cout = 3` is caught. Driver `config` blocks are free-form and
//! never rejected; they come out in the shape Nomad's HCL2 parser gives
//! drivers, where nested blocks and object-valued attributes are lists of
//! objects (`labels = {..}` → `"labels": [{..}]`; see `task::decode_config`).
//!
//! Expressions: literals, lists, objects, arithmetic, comparisons,
//! conditionals and string templates are evaluated (see the `eval`
//! module). Runtime interpolations (`"${NOMAD_PORT_http}"`, `"${attr.kernel.name}"`) are kept
//! as written for the client. HCL2 input variables are supported:
//! `variable "x" { default = .. }` blocks, a `variables { x = .. }` block,
//! `locals { .. }`, and `var.x` / `local.x` references, both bare and inside
//! `"${..}"`; values can be supplied with [`parse_hcl_with_variables`].
//! Function calls, `for` expressions, splats, template directives and
//! `dynamic` blocks are rejected with an error that says so.
//!
//! Architecture Invariant: no I/O. Nothing here reads files or the
//! environment (Nomad's `file()` and `NOMAD_VAR_*` are the caller's
//! business), and nothing panics on any input: the `jobspec_props` tests
//! feed it random and mutated specs.

mod body;
mod duration;
mod error;
mod eval;
mod group;
mod job;
mod position;
mod task;

use drover_api::Job;
use hcl::{Body, Expression, Structure};

pub use duration::{parse_go_duration, DurationError};
pub use error::{JobspecError, JobspecErrorKind};

use body::{one_label, Decoder};
use error::{JobspecErrorKind as Kind, Path};
use eval::Scope;

/// A parsed job and what the parser skipped.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub job: Job,
    /// One line per Nomad feature present in the spec that Drover ignored,
    /// such as `job.group["web"].service: ignored; Drover does not support
    /// `service` blocks yet`. Returned rather than logged so `job run` and
    /// `job plan` can show them to the person who wrote the spec.
    pub warnings: Vec<String>,
    /// Indices of `job.task_groups` whose spec sets no `count`.
    count_unset: Vec<usize>,
}

impl Parsed {
    /// The job as Nomad's parser hands it on (`PUT /v1/jobs/parse` without
    /// `Canonicalize`): a group that sets no `count` has `"Count": null`,
    /// because api.TaskGroup.Count stays a nil pointer until
    /// api.TaskGroup.Canonicalize (api/tasks.go) makes it 1.
    pub fn to_json(&self) -> Result<serde_json::Value, serde_json::Error> {
        let mut value = serde_json::to_value(&self.job)?;
        if let Some(groups) = value
            .get_mut("TaskGroups")
            .and_then(serde_json::Value::as_array_mut)
        {
            for &i in &self.count_unset {
                if let Some(group) = groups.get_mut(i).and_then(serde_json::Value::as_object_mut) {
                    group.insert("Count".to_owned(), serde_json::Value::Null);
                }
            }
        }
        Ok(value)
    }
}

/// Parses a job spec that needs no variable values from outside (every
/// declared variable has a default).
pub fn parse_hcl(src: &str) -> Result<Parsed, JobspecError> {
    parse_hcl_with_variables(src, "")
}

/// Parses a job spec, with variable values given as HCL attributes
/// (`image = "redis:7"`, one per line): the `Variables` field of
/// `PUT /v1/jobs/parse`, or the contents of a `-var-file`. A given value
/// overrides the variable's default; setting an undeclared variable is an
/// error, as in Nomad.
pub fn parse_hcl_with_variables(src: &str, variables: &str) -> Result<Parsed, JobspecError> {
    parse(src, variables).map_err(|mut err| {
        if let Kind::BareWord {
            word,
            at: at @ None,
        } = &mut err.kind
        {
            *at = position::bare_word(src, word).or_else(|| position::bare_word(variables, word));
        }
        err
    })
}

fn parse(src: &str, variables: &str) -> Result<Parsed, JobspecError> {
    let body = parse_body(src, &Path::root(""))?;
    let file = TopLevel::split(&body)?;
    let scope = file.scope(variables)?;
    let mut decoder = Decoder::new(&scope);
    let Some((label, job_body)) = file.job else {
        return Err(JobspecError::file(Kind::MissingJob));
    };
    let (job, count_unset) = job::decode_job(&mut decoder, label, job_body)?;
    let mut warnings = file.warnings;
    warnings.append(&mut decoder.warnings);
    Ok(Parsed {
        job,
        warnings,
        count_unset,
    })
}

fn parse_body(src: &str, path: &Path) -> Result<Body, JobspecError> {
    if src.trim_start().starts_with('{') {
        return Err(path.err(Kind::Unsupported(
            "JSON job specs are not supported here; submit a JSON job to /v1/jobs directly"
                .to_owned(),
        )));
    }
    hcl::parse(src).map_err(|err| {
        path.err(match err {
            hcl::Error::Parse(parse) => Kind::Syntax {
                line: parse.location().line(),
                column: parse.location().column(),
                message: parse.message().to_owned(),
            },
            other => Kind::Invalid(other.to_string()),
        })
    })
}

/// The top level of a job file, sorted: Nomad allows only `job`,
/// `variable`, `variables` and `locals` there.
struct TopLevel<'a> {
    job: Option<(&'a str, &'a Body)>,
    /// Declared input variables and their defaults, in file order.
    declared: Vec<(&'a str, Option<&'a Expression>)>,
    locals: Vec<(&'a str, &'a Expression)>,
    warnings: Vec<String>,
}

impl<'a> TopLevel<'a> {
    fn split(body: &'a Body) -> Result<Self, JobspecError> {
        let root = Path::root("");
        let mut file = TopLevel {
            job: None,
            declared: Vec::new(),
            locals: Vec::new(),
            warnings: Vec::new(),
        };
        for structure in body.iter() {
            let block = match structure {
                Structure::Attribute(attr) => {
                    return Err(root.attr(attr.key.as_str()).err(Kind::Invalid(
                        "attributes are not allowed outside the job block".to_owned(),
                    )))
                }
                Structure::Block(block) => block,
            };
            match block.identifier.as_str() {
                "job" => {
                    let label = one_label(&root, block)?;
                    if let Some((first, _)) = file.job {
                        return Err(JobspecError::file(Kind::DuplicateJob {
                            first: first.to_owned(),
                        }));
                    }
                    file.job = Some((label, &block.body));
                }
                "variable" => {
                    let name = one_label(&root, block)?;
                    let path = root.labelled("variable", name);
                    let default = file.variable_block(&path, &block.body)?;
                    file.declare(&path, name, default)?;
                }
                "variables" => {
                    let path = root.attr("variables");
                    for structure in block.body.iter() {
                        match structure {
                            Structure::Attribute(attr) => {
                                let name = attr.key.as_str();
                                file.declare(&path.attr(name), name, Some(&attr.expr))?;
                            }
                            Structure::Block(inner) => {
                                return Err(path
                                    .attr(inner.identifier.as_str())
                                    .err(Kind::UnknownBlock))
                            }
                        }
                    }
                }
                "locals" => {
                    let path = root.attr("locals");
                    for structure in block.body.iter() {
                        match structure {
                            Structure::Attribute(attr) => {
                                let name = attr.key.as_str();
                                if file.locals.iter().any(|(n, _)| *n == name) {
                                    return Err(path.attr(name).err(Kind::Duplicate));
                                }
                                file.locals.push((name, &attr.expr));
                            }
                            Structure::Block(inner) => {
                                return Err(path
                                    .attr(inner.identifier.as_str())
                                    .err(Kind::UnknownBlock))
                            }
                        }
                    }
                }
                other => return Err(root.attr(other).err(Kind::UnknownBlock)),
            }
        }
        Ok(file)
    }

    /// `variable "x" { default, type, description, validation {..} }`;
    /// returns the default. `type` is not checked (values convert where they
    /// are used, as cty would) and `validation` is not run: a warning says so.
    fn variable_block(
        &mut self,
        path: &Path,
        body: &'a Body,
    ) -> Result<Option<&'a Expression>, JobspecError> {
        let mut default = None;
        for structure in body.iter() {
            match structure {
                Structure::Attribute(attr) => match attr.key.as_str() {
                    "default" => default = Some(&attr.expr),
                    "type" | "description" => {}
                    other => return Err(path.attr(other).err(Kind::UnknownAttribute)),
                },
                Structure::Block(block) if block.identifier.as_str() == "validation" => self
                    .warnings
                    .push(format!("{path}.validation: ignored; Drover does not check variable validation rules yet")),
                Structure::Block(block) => {
                    return Err(path.attr(block.identifier.as_str()).err(Kind::UnknownBlock))
                }
            }
        }
        Ok(default)
    }

    fn declare(
        &mut self,
        path: &Path,
        name: &'a str,
        default: Option<&'a Expression>,
    ) -> Result<(), JobspecError> {
        if self.declared.iter().any(|(n, _)| *n == name) {
            return Err(path.err(Kind::Duplicate));
        }
        self.declared.push((name, default));
        Ok(())
    }

    /// Evaluates variables (given values over defaults) and then locals,
    /// which may refer to variables and to each other in any order.
    fn scope(&self, given: &str) -> Result<Scope, JobspecError> {
        let root = Path::root("");
        let literals = Scope::default();
        let mut scope = Scope::default();

        let given_path = Path::root("variables");
        let given_body = parse_body(given, &given_path)?;
        for structure in given_body.iter() {
            let attr = match structure {
                Structure::Attribute(attr) => attr,
                Structure::Block(block) => {
                    return Err(given_path
                        .attr(block.identifier.as_str())
                        .err(Kind::UnknownBlock))
                }
            };
            let name = attr.key.as_str();
            let path = given_path.attr(name);
            if !self.declared.iter().any(|(n, _)| *n == name) {
                return Err(path.err(Kind::Variable(format!(
                    "variable {name:?} is given a value but not declared; add a `variable \"{name}\" {{}}` block"
                ))));
            }
            scope
                .vars
                .insert(name.to_owned(), literals.eval(&path, &attr.expr)?);
        }

        for (name, default) in &self.declared {
            if scope.vars.contains_key(*name) {
                continue;
            }
            let path = root.labelled("variable", name);
            let Some(default) = default else {
                return Err(path.err(Kind::Variable(format!(
                    "unset variable {name:?}: it has no default and no value was given"
                ))));
            };
            scope.vars.insert(
                (*name).to_owned(),
                literals.eval(&path.attr("default"), default)?,
            );
        }

        // Locals may refer to locals defined later; evaluate in rounds until
        // a round makes no progress, then report the first failure.
        let locals_path = Path::root("locals");
        let mut pending: Vec<(&str, &Expression)> = self.locals.clone();
        while !pending.is_empty() {
            let before = pending.len();
            let mut first_error = None;
            let mut still_pending = Vec::new();
            for (name, expr) in pending {
                match scope.eval(&locals_path.attr(name), expr) {
                    Ok(value) => {
                        scope.locals.insert(name.to_owned(), value);
                    }
                    Err(err) => {
                        first_error.get_or_insert(err);
                        still_pending.push((name, expr));
                    }
                }
            }
            if still_pending.len() == before {
                if let Some(err) = first_error {
                    return Err(err);
                }
            }
            pending = still_pending;
        }
        Ok(scope)
    }
}
