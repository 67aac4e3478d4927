//! Tests of `drover agent`'s configuration. Helpers live here; each file
//! covers one concern, most through a table and one `check`.

mod config;
mod flags;
mod load;
mod parse;
mod tls;

use std::path::PathBuf;

use clap::Parser;

use super::config::ConfigLayer;
use super::flags::{normalize_go_flag, AgentArgs};
use super::parse::{parse_config, Format};

/// Stands in for main.rs's `Cli`: `AgentArgs` flattened into a parser.
#[derive(Debug, Parser)]
#[command(name = "agent")]
struct Wrapper {
    #[command(flatten)]
    args: AgentArgs,
}

/// Parses an agent command line after main.rs's `-flag` to `--flag` rewrite.
fn try_args(argv: &[&str]) -> Result<AgentArgs, clap::Error> {
    let argv = std::iter::once("agent".to_string())
        .chain(argv.iter().map(|a| normalize_go_flag(a.to_string())));
    Wrapper::try_parse_from(argv).map(|w| w.args)
}

#[track_caller]
fn args(argv: &[&str]) -> AgentArgs {
    match try_args(argv) {
        Ok(args) => args,
        Err(e) => panic!("{argv:?} did not parse: {e}"),
    }
}

fn parse_hcl(text: &str) -> anyhow::Result<(ConfigLayer, Vec<String>)> {
    parse_config("agent.hcl", text, Format::Hcl)
}

fn parse_json(text: &str) -> anyhow::Result<(ConfigLayer, Vec<String>)> {
    parse_config("agent.json", text, Format::Json)
}

#[track_caller]
fn layer(format: Format, text: &str) -> ConfigLayer {
    let parsed = match format {
        Format::Hcl => parse_hcl(text),
        Format::Json => parse_json(text),
    };
    match parsed {
        Ok((layer, _)) => layer,
        Err(e) => panic!("{text:?} did not parse: {e:#}"),
    }
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/agent")
        .join(name)
}
