//! Help text for each `drover alloc` subcommand.

/// Appends the options every subcommand shares.
macro_rules! with_address {
    ($text:expr) => {
        concat!(
            $text,
            "
General options:

  -address=<addr>
    The agent's HTTP address. Defaults to DROVER_ADDR, then NOMAD_ADDR,
    then http://127.0.0.1:4646.
"
        )
    };
}

pub const EXEC: &str = with_address!(
    "Usage: drover alloc exec [options] <allocation> <command> [args...]

  Runs a command inside a running allocation's task, with its environment
  and working directory, and exits with the command's exit status.
  <allocation> may be a unique prefix of the allocation ID.

Exec options:

  -task <task-name>
    The task to run in. Optional when the task group has a single task.

  -i
    Forward local stdin to the command. Defaults to true.

  -t
    Allocate a pseudo-terminal. Defaults to true when both stdin and
    stdout are terminals. Requires -i.

  -e <escape-char>
    The escape character, recognised at the start of a line when a
    terminal is in use: '~.' disconnects, '~~' sends one '~'. 'none'
    disables it. Defaults to '~'.

Examples:

  $ drover alloc exec -task web 5c4b7bbd /bin/sh
"
);

pub const ATTACH: &str = with_address!(
    "Usage: drover alloc attach [options] <allocation> [<task>]

  Joins a running task's own stdin, stdout and stderr (a Drover extension;
  only one stdin writer at a time). Leave with the escape sequence when a
  terminal is in use, or close stdin.

Attach options:

  -task <task-name>
    The task to attach to. Optional when the task group has a single task.

  -i
    Forward local stdin. Defaults to true.

  -t
    Put the local terminal in raw mode and forward its size. Defaults to
    false.

  -e <escape-char>
    The escape character, as for 'drover alloc exec'. Defaults to '~'.

Examples:

  $ drover alloc attach -t 5c4b7bbd web
"
);

pub const LOGS: &str = with_address!(
    "Usage: drover alloc logs [options] <allocation> [<task>]

  Prints a task's stdout (or stderr). <allocation> may be a unique prefix.

Logs options:

  -task <task-name>
    The task whose logs to print; may also be the second argument.

  -stderr
    Print stderr instead of stdout.

  -stdout
    Print stdout (the default); with -f, follow only stdout.

  -f
    Follow the log until the task ends or the command is interrupted.
    Without -stdout, -stderr, -tail, -n or -c, follows both streams from
    their current end.

  -tail
    Start from the end of the log (10 lines unless -n or -c).

  -n <lines>
    With -tail, the number of lines to show.

  -c <bytes>
    With -tail, the number of bytes to show.

Examples:

  $ drover alloc logs -f -tail -n 20 5c4b7bbd web
"
);

pub const SIGNAL: &str = with_address!(
    "Usage: drover alloc signal [options] <allocation> [<task>]

  Sends a signal to the allocation's tasks, or to one task.

Signal options:

  -s <signal>
    The signal to send. Defaults to SIGKILL.

  -task <task-name>
    The task to signal; may also be the second argument.

Examples:

  $ drover alloc signal -s SIGHUP 5c4b7bbd web
"
);

pub const RESTART: &str = with_address!(
    "Usage: drover alloc restart [options] <allocation> [<task>]

  Restarts the allocation's running tasks in place, or one task.

Restart options:

  -task <task-name>
    The task to restart; may also be the second argument.

  -all-tasks
    Restart every task, including those that already finished. Not
    allowed together with a task.

Examples:

  $ drover alloc restart 5c4b7bbd web
"
);

pub const STOP: &str = with_address!(
    "Usage: drover alloc stop [options] <allocation>

  Stops the allocation; the scheduler places a replacement. Prints the
  evaluation it created and waits for it unless -detach is given.

Stop options:

  -detach
    Print the evaluation ID and return at once.

  -no-shutdown-delay
    Skip the tasks' shutdown delay.

Examples:

  $ drover alloc stop -detach 5c4b7bbd
"
);
