//! Help text for each `drover job` subcommand, after Nomad's
//! (`command/job_*.go`, `Help()`): usage, what it does, its options, an
//! example, then the general options every subcommand shares.

/// Appends the general options.
macro_rules! with_general {
    ($text:expr) => {
        concat!(
            $text,
            "
General options:

  -address=<addr>
    The agent's HTTP address. Defaults to DROVER_ADDR, then NOMAD_ADDR,
    then http://127.0.0.1:4646.

  -region=<region>
    The region to send the request to. Defaults to NOMAD_REGION, else the
    agent's own region.

  -namespace=<namespace>
    The namespace to use. Defaults to NOMAD_NAMESPACE, else \"default\".
    '*' makes job status list the jobs of every namespace.
"
        )
    };
}

pub const RUN: &str = with_general!(
    "Usage: drover job run [options] <path>

  Submits a job file (HCL, or JSON with -json) to the cluster, creating the
  job or updating it. <path> may be '-' to read the file from stdin. HCL is
  parsed by the agent, with the values given by -var and -var-file.

  Unless -detach is given, the command then follows the evaluation (nodes
  chosen, allocations created, placement failures) and the deployment
  (per-group Desired/Placed/Healthy/Unhealthy), redrawn in place on a
  terminal and as plain lines otherwise. Ctrl-C stops watching; the job is
  not affected.

  Exit status: 0 when the job is placed (and its deployment succeeds), 2
  when allocations could not be placed, 1 on any other error.

Run options:

  -detach
    Print the evaluation ID and return at once.

  -check-index <index>
    Register only if the job's modify index is <index> (0: only if the job
    does not exist yet). 'drover job plan' prints the index to use.

  -var 'key=value'
    A value for an input variable; repeatable.

  -var-file=<path>
    A file of variable values (HCL attributes, 'key = value').

  -json
    The job file is JSON (a job, or {\"Job\": ...}), not HCL.

  -verbose
    Show full IDs.

Example:

  $ drover job init && drover job run example.nomad.hcl
"
);

pub const PLAN: &str = with_general!(
    "Usage: drover job plan [options] <path>

  Dry-runs a job file: shows what would change compared with the job the
  cluster runs, and what the scheduler would do (placements, failures),
  without changing anything. Prints the job's modify index to pass to
  'drover job run -check-index' so the run happens only if nobody changed
  the job in between.

  Exit status: 0 when nothing would change, 1 when allocations would be
  created or destroyed, 255 on an error.

Plan options:

  -diff
    Show the differences to the running job. Defaults to true.

  -verbose
    Show the full diff, including unchanged fields.

  -var 'key=value'
    A value for an input variable; repeatable.

  -var-file=<path>
    A file of variable values.

  -json
    The job file is JSON, not HCL.

Example:

  $ drover job plan example.nomad.hcl
"
);

pub const VALIDATE: &str = with_general!(
    "Usage: drover job validate [options] <path>

  Checks a job file for errors without submitting it: the agent parses it
  and validates the job as a registration would. <path> may be '-'.

Validate options:

  -var 'key=value'
    A value for an input variable; repeatable.

  -var-file=<path>
    A file of variable values.

  -json
    The job file is JSON, not HCL.

Example:

  $ drover job validate example.nomad.hcl
"
);

pub const STATUS: &str = with_general!(
    "Usage: drover job status [options] [<job>]

  Without a job, lists every job. With one (a unique ID prefix is enough),
  shows the job, its task group summary, its latest deployment and its
  allocations.

Status options:

  -short
    Show only the job's header.

  -verbose
    Show full IDs.

  -json
    Print the job(s) as JSON.

  -t <template>
    Format the output with a Go template.

Example:

  $ drover job status example
"
);

pub const STOP: &str = with_general!(
    "Usage: drover job stop [options] <job>

  Stops a running job: its allocations are stopped, and it stays listed as
  dead unless -purge is given. Then follows the evaluation unless -detach
  is given.

Stop options:

  -detach
    Print the evaluation ID and return at once.

  -purge
    Remove the job from the cluster's state entirely.

  -yes
    Do not ask for confirmation when <job> is a prefix of a longer ID.

  -verbose
    Show full IDs.

Example:

  $ drover job stop -purge example
"
);

pub const INSPECT: &str = with_general!(
    "Usage: drover job inspect [options] <job>

  Prints the job as the cluster stores it, in JSON, ready for
  'drover job run -json'.

Inspect options:

  -version <version>
    Show this version of the job instead of the latest.

  -json
    Print JSON (the default).

  -t <template>
    Format the output with a Go template.

Example:

  $ drover job inspect -version 1 example
"
);

pub const HISTORY: &str = with_general!(
    "Usage: drover job history [options] <job>

  Lists the versions of a job the cluster keeps, newest first.

History options:

  -p
    Show the changes between each version and the one before.

  -version <version>
    Show only this version.

  -full
    Show each version's full job, as JSON.

Example:

  $ drover job history -p example
"
);

pub const REVERT: &str = with_general!(
    "Usage: drover job revert [options] <job> <version>

  Reverts a job to an earlier version: that version's spec is registered
  as a new version. Then follows the evaluation unless -detach is given.

Revert options:

  -detach
    Print the evaluation ID and return at once.

  -verbose
    Show full IDs.

Example:

  $ drover job revert example 0
"
);

pub const SCALE: &str = with_general!(
    "Usage: drover job scale [options] <job> [<group>] <count>

  Sets the count of a task group. <group> may be left out when the job has
  a single group. Then follows the evaluation unless -detach is given.

Scale options:

  -detach
    Print the evaluation ID and return at once.

  -verbose
    Show full IDs.

Example:

  $ drover job scale example app 3
"
);

pub const DISPATCH: &str = with_general!(
    "Usage: drover job dispatch [options] <parameterized job> [<input file>]

  Dispatches an instance of a parameterized job, with a payload read from
  <input file> (or stdin when it is '-') and metadata from -meta. Then
  follows the evaluation unless -detach is given.

Dispatch options:

  -meta <key>=<value>
    Metadata for the dispatched job; repeatable.

  -idempotency-token <token>
    Dispatch at most once for this token: a second dispatch with the same
    token returns the first one's job.

  -detach
    Print the dispatched job's ID and evaluation and return at once.

  -verbose
    Show full IDs.

Example:

  $ drover job dispatch -meta file=report.txt video-encode input.mp4
"
);

pub const EVAL: &str = with_general!(
    "Usage: drover job eval [options] <job>

  Creates an evaluation of the job, so the scheduler looks at it again
  (for instance after nodes were added). Then follows the evaluation
  unless -detach is given.

Eval options:

  -force-reschedule
    Reschedule failed allocations even if their reschedule policy would
    not yet.

  -detach
    Print the evaluation ID and return at once.

  -verbose
    Show full IDs.

Example:

  $ drover job eval example
"
);

pub const PERIODIC: &str = "\
Usage: drover job periodic <subcommand> [options] [args]

  Interact with periodic jobs.

Subcommands:
    force    Force the launch of a periodic job
";

pub const PERIODIC_FORCE: &str = with_general!(
    "Usage: drover job periodic force [options] <job>

  Launches a periodic job now, whatever its schedule says (and even if it
  prohibits overlap). Then follows the child's evaluation unless -detach
  is given.

Periodic force options:

  -detach
    Print the evaluation ID and return at once.

  -verbose
    Show full IDs.

Example:

  $ drover job periodic force nightly-backup
"
);

pub const INIT: &str = "\
Usage: drover job init [options] [<filename>]

  Writes an example job file, example.nomad.hcl unless <filename> is
  given. The example runs as written on a dev agent ('drover agent -dev'):
  a raw_exec task running a shell loop. An existing file is never
  overwritten.

Init options:

  -short
    Write the example without its explanatory comments.

Example:

  $ drover job init && drover job run example.nomad.hcl
";

pub const DEPLOYMENTS: &str = with_general!(
    "Usage: drover job deployments [options] <job>

  Lists the job's deployments, newest first.

Deployments options:

  -latest
    Show only the latest deployment.

  -json
    Print the deployments as JSON.

  -t <template>
    Format the output with a Go template.

  -verbose
    Show full IDs.

Example:

  $ drover job deployments example
"
);

pub const ALLOCS: &str = with_general!(
    "Usage: drover job allocs [options] <job>

  Lists the job's allocations.

Allocs options:

  -all
    Include allocations of earlier versions of the job (Nomad's -all).

  -json
    Print the allocations as JSON.

  -t <template>
    Format the output with a Go template.

  -verbose
    Show full IDs.

Example:

  $ drover job allocs example
"
);
