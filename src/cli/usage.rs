//! Help text for every command outside `alloc exec|logs|...`, `server`
//! and `operator` (which keep theirs beside their code), and the command
//! tree that `drover -help` and `drover completion` are built from.
//!
//! Each text is a usage line, a description, the options and an example;
//! `tests/cli_reference.rs` renders them into the website's CLI reference.

pub const EVAL: &str = r#"Usage: drover eval <subcommand> [options] [args]

  Interact with evaluations: the scheduler's units of work.

Subcommands:
    list      List the evaluations
    status    Display the status and placement failures of an evaluation

Examples:

  $ drover eval list -status blocked"#;

pub const EVAL_STATUS: &str = r#"Usage: drover eval status [options] <evaluation>

  Display an evaluation: its status, trigger, related evaluations, the
  allocations it placed and why placements failed. <evaluation> may be a
  unique ID prefix of at least two characters.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

Eval Status Options:

  -verbose
    Display full-length IDs and exact timestamps.
  -json
    Output the evaluation in its JSON format.

  -t <template>
    Format and display the evaluation using a Go template.

Examples:

  $ drover eval status 8e1f9b2c
  $ drover eval status -t '{{.Status}}' 8e1f9b2c"#;

pub const EVAL_LIST: &str = r#"Usage: drover eval list [options]

  List the evaluations the cluster holds.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

Eval List Options:

  -job <job-id>
    Only show evaluations for this job ID.

  -status <status>
    Only show evaluations with this status (pending, blocked, complete,
    failed, canceled).

  -filter <expression>
    Filter the evaluations with an expression (see Filtering).

  -per-page <n>
    How many results to show per page.

  -page-token <token>
    Where to start pagination.

  -verbose
    Display full-length IDs and exact timestamps.
  -json
    Output the evaluations in its JSON format.

  -t <template>
    Format and display the evaluations using a Go template.

Examples:

  $ drover eval list -job web"#;

pub const DEPLOYMENT: &str = r#"Usage: drover deployment <subcommand> [options] [args]

  Interact with deployments: the rollout of a job version.

Subcommands:
    fail       Manually fail a deployment
    list       List all deployments
    pause      Pause a deployment
    promote    Promote the canaries of a deployment
    resume     Resume a paused deployment
    status     Display the status of a deployment

Examples:

  $ drover deployment list"#;

pub const DEPLOYMENT_LIST: &str = r#"Usage: drover deployment list [options]

  List all deployments.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

Deployment List Options:

  -filter <expression>
    Filter the deployments with an expression.

  -verbose
    Display full-length IDs and exact timestamps.
  -json
    Output the deployments in its JSON format.

  -t <template>
    Format and display the deployments using a Go template.

Examples:

  $ drover deployment list -json"#;

pub const DEPLOYMENT_STATUS: &str = r#"Usage: drover deployment status [options] <deployment>

  Display a deployment: its status and, per task group, the allocations
  desired, placed, healthy and unhealthy. <deployment> may be an ID prefix.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

Deployment Status Options:

  -verbose
    Display full-length IDs and exact timestamps.
  -json
    Output the deployment in its JSON format.

  -t <template>
    Format and display the deployment using a Go template.

Examples:

  $ drover deployment status 0b23e4a1"#;

pub const DEPLOYMENT_PROMOTE: &str = r#"Usage: drover deployment promote [options] <deployment>

  Promote the canaries of a deployment: the rest of the rollout proceeds.
  Without -group, every group's canaries are promoted. Prints the
  evaluation the promotion created.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

Deployment Promote Options:

  -group <name>
    Promote only this group's canaries. May be repeated.

  -detach
    Return at once with the evaluation ID (the only behaviour: accepted
    for compatibility).

  -verbose
    Display full-length IDs and exact timestamps.

Examples:

  $ drover deployment promote -group web 0b23e4a1"#;

pub const DEPLOYMENT_FAIL: &str = r#"Usage: drover deployment fail [options] <deployment>

  Mark a deployment failed. A job with auto_revert rolls back to its
  last stable version.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

Deployment Fail Options:

  -detach
    Return at once with the evaluation ID (the only behaviour: accepted
    for compatibility).

  -verbose
    Display full-length IDs and exact timestamps.

Examples:

  $ drover deployment fail 0b23e4a1"#;

pub const DEPLOYMENT_PAUSE: &str = r#"Usage: drover deployment pause [options] <deployment>

  Pause a deployment: no further allocations are placed until resumed.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

Deployment Pause Options:

  -detach
    Return at once with the evaluation ID (the only behaviour: accepted
    for compatibility).

  -verbose
    Display full-length IDs and exact timestamps.

Examples:

  $ drover deployment pause 0b23e4a1"#;

pub const DEPLOYMENT_RESUME: &str = r#"Usage: drover deployment resume [options] <deployment>

  Resume a paused deployment.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

Deployment Resume Options:

  -detach
    Return at once with the evaluation ID (the only behaviour: accepted
    for compatibility).

  -verbose
    Display full-length IDs and exact timestamps.

Examples:

  $ drover deployment resume 0b23e4a1"#;

pub const NODE: &str = r#"Usage: drover node <subcommand> [options] [args]

  Interact with client nodes.

Subcommands:
    drain          Toggle drain mode on a node
    eligibility    Toggle scheduling eligibility of a node
    pool list      List node pools
    status         Display the status of nodes

Examples:

  $ drover node status"#;

pub const NODE_STATUS: &str = r#"Usage: drover node status [options] [node]

  Without a node, list the client nodes. With a node (an ID prefix) or
  -self, display that node: its drain and eligibility, drivers, allocated
  resources and allocations.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

Node Status Options:

  -self
    Query the node of the agent being talked to.

  -filter <expression>
    Filter the node list with an expression.

  -verbose
    Display full-length IDs and exact timestamps.
  -json
    Output the node in its JSON format.

  -t <template>
    Format and display the node using a Go template.

Examples:

  $ drover node status
  $ drover node status -self -json"#;

pub const NODE_DRAIN: &str = r#"Usage: drover node drain [options] <node>

  Toggle drain mode on a node. A draining node is ineligible for new
  allocations and its allocations are migrated; -disable ends the drain.
  When <node> is a prefix rather than the full ID, the command asks for
  confirmation unless -yes is given. The command returns once the drain
  strategy is set.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

Node Drain Options:

  -enable
    Enable draining for the node.

  -disable
    Disable draining for the node.

  -deadline <duration>
    How long allocations may take to migrate before they are stopped
    (a Go duration: 30m, 1h). Defaults to 1h.

  -no-deadline
    Drain with no deadline.

  -ignore-system
    Leave system jobs' allocations on the node.

  -keep-ineligible
    Keep the node ineligible when the drain is disabled.

  -m <message>
    A message stored with the drain.

  -self
    Drain the node of the agent being talked to.

  -yes
    Answer yes to the confirmation prompt.

  -detach
    Return once the drain is set (the only behaviour: accepted for
    compatibility).

Examples:

  $ drover node drain -enable -deadline 30m -yes 4f2c"#;

pub const NODE_ELIGIBILITY: &str = r#"Usage: drover node eligibility [options] <node>

  Toggle whether the scheduler may place new allocations on a node.
  Existing allocations are not affected.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

Node Eligibility Options:

  -enable
    Mark the node eligible for scheduling.

  -disable
    Mark the node ineligible for scheduling.

  -self
    Apply to the node of the agent being talked to.

Examples:

  $ drover node eligibility -disable 4f2c"#;

pub const NODE_POOL: &str = r#"Usage: drover node pool <subcommand> [options] [args]

  Interact with node pools.

Subcommands:
    list    List node pools

Examples:

  $ drover node pool list"#;

pub const NODE_POOL_LIST: &str = r#"Usage: drover node pool list [options]

  List the node pools.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

Node Pool List Options:

  -filter <expression>
    Filter the node pools with an expression.

  -json
    Output the node pools in its JSON format.

  -t <template>
    Format and display the node pools using a Go template.

Examples:

  $ drover node pool list"#;

pub const ALLOC_STATUS: &str = r#"Usage: drover alloc status [options] <allocation>

  Display an allocation: where it runs, its status, each task's resources,
  state and recent events, and with -verbose the placement metrics.
  <allocation> may be an ID prefix.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

Alloc Status Options:

  -verbose
    Display full-length IDs and exact timestamps and placement
    metrics.
  -json
    Output the allocation in its JSON format.

  -t <template>
    Format and display the allocation using a Go template.

Examples:

  $ drover alloc status -verbose 5c4b7bbd"#;

pub const STATUS: &str = r#"Usage: drover status [options] [identifier]

  Without an identifier, list the jobs. With one, search every kind of
  object (jobs, evaluations, allocations, nodes, deployments) for IDs
  starting with it and display the single match; when several match, list
  them by kind.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

Status Options:

  -verbose
    Display full-length IDs and exact timestamps.

Examples:

  $ drover status
  $ drover status 5c4b"#;

pub const SYSTEM: &str = r#"Usage: drover system <subcommand> [options]

  Interact with the system API.

Subcommands:
    gc    Run the system garbage collection

Examples:

  $ drover system gc"#;

pub const SYSTEM_GC: &str = r#"Usage: drover system gc [options]

  Run the system garbage collection: terminal evaluations, allocations,
  jobs and deployments past their threshold are removed now.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

Examples:

  $ drover system gc"#;

pub const VERSION: &str = r#"Usage: drover version

  Print the version of this binary. Also: drover -version, drover --version.

Examples:

  $ drover version"#;

pub const UI: &str = r#"Usage: drover ui [options]

  Print the address of the agent's web UI; with -open, also open it with
  xdg-open when that is installed.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

UI Options:

  -open
    Open the address in a browser with xdg-open.

Examples:

  $ drover ui -open"#;

pub const EVENT: &str = r#"Usage: drover event <subcommand> [options]

  Interact with the event stream.

Subcommands:
    stream    Stream events from the cluster's event log

Examples:

  $ drover event stream -topic Job:web"#;

pub const EVENT_STREAM: &str = r#"Usage: drover event stream [options]

  Stream the cluster's events (a Drover command; the stream is Nomad's
  /v1/event/stream): one line per event, "<index> <topic> <type> <key>",
  or the raw events with -json, until interrupted.

General Options:

  -address=<addr>
    The address of the agent's HTTP API. Without it, DROVER_ADDR, then
    NOMAD_ADDR, then http://127.0.0.1:4646.

  -no-color
    Disable colour. Colour is only used when stdout is a terminal and
    NO_COLOR is unset.

Event Stream Options:

  -topic <topic:key>
    A topic to subscribe to, with a key or * (Job:web, Allocation:*).
    May be repeated. Defaults to every topic.

  -index <n>
    Start from this index rather than now.

  -json
    Print each event as one line of JSON.

Examples:

  $ drover event stream -topic Evaluation:* -index 0"#;

pub const COMPLETION: &str = r#"Usage: drover completion <bash|zsh|fish>

  Print a completion script for the shell named, covering every command
  and its flags.

Examples:

  $ source <(drover completion bash)
  $ drover completion fish > ~/.config/fish/completions/drover.fish"#;
