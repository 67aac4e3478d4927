//! `drover completion bash|zsh|fish`: a completion script generated from
//! the command tree ([`super::tree`]), so every command and flag the help
//! texts name completes. zsh loads the bash function through
//! `bashcompinit`, which zsh ships for this purpose.

use std::process::ExitCode;

use super::output::emit;
use super::tree::{children, flags_of, help_of, paths};
use super::usage;

/// Runs `drover completion <shell>`.
pub fn run(args: &[String]) -> ExitCode {
    match args.first().map(String::as_str) {
        Some("-h" | "-help" | "--help") => {
            emit(usage::COMPLETION);
            ExitCode::SUCCESS
        }
        Some("bash") => {
            emit(bash().trim_end());
            ExitCode::SUCCESS
        }
        Some("zsh") => {
            emit(&format!(
                "#compdef drover\nautoload -U +X bashcompinit && bashcompinit\n{}",
                bash().trim_end()
            ));
            ExitCode::SUCCESS
        }
        Some("fish") => {
            emit(fish().trim_end());
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("Error: unknown shell {other:?}: use bash, zsh or fish");
            ExitCode::from(1)
        }
        None => {
            eprintln!("Error: name a shell: drover completion <bash|zsh|fish>");
            ExitCode::from(1)
        }
    }
}

/// The words offered after `path`: its subcommands and its flags.
fn offers(path: &str) -> Vec<String> {
    let mut words = children(path);
    if let Some(help) = help_of(path) {
        words.extend(flags_of(help).into_iter().map(|f| format!("-{f}")));
    }
    words
}

fn bash() -> String {
    let mut cases = String::new();
    for path in paths() {
        let words = offers(&path);
        if words.is_empty() {
            continue;
        }
        cases.push_str(&format!(
            "        \"{path}\") opts=\"{}\" ;;\n",
            words.join(" ")
        ));
    }
    format!(
        r#"# drover completion for bash: source <(drover completion bash)
_drover() {{
    local cur path opts i w
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    path=""
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${{COMP_WORDS[i]}}"
        case "$w" in
            -*) ;;
            *) path="${{path:+$path }}$w" ;;
        esac
    done
    opts=""
    case "$path" in
{cases}    esac
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
}}
complete -F _drover drover
"#
    )
}

fn fish() -> String {
    let mut out = String::from(
        "# drover completion for fish: drover completion fish | source\ncomplete -c drover -f\n",
    );
    for path in paths() {
        let cond = if path.is_empty() {
            "__fish_use_subcommand".to_string()
        } else {
            let words: Vec<String> = path
                .split(' ')
                .map(|w| format!("__fish_seen_subcommand_from {w}"))
                .collect();
            words.join("; and ")
        };
        for child in children(&path) {
            out.push_str(&format!("complete -c drover -n '{cond}' -a {child}\n"));
        }
        if let Some(help) = help_of(&path) {
            for flag in flags_of(help) {
                out.push_str(&format!("complete -c drover -n '{cond}' -o {flag}\n"));
            }
        }
    }
    out
}
