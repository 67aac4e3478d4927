//! Building the agent's configuration from `-config` paths and flags, in
//! Nomad's order (`readConfig` in `command/agent/command.go`): defaults (or
//! dev defaults), then each `-config` path in the order given, then flags.
//!
//! The only I/O here is reading config files; the hostname comes in as an
//! argument so that tests can pin it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use super::config::{AgentConfig, ConfigLayer};
use super::flags::AgentArgs;
use super::parse::{parse_config, Format};

/// The agent's configuration and the warnings to print before starting
/// (ignored keys, deprecations, risky bootstrap settings).
pub fn load(args: &AgentArgs, hostname: &str) -> anyhow::Result<(AgentConfig, Vec<String>)> {
    let mut warnings = Vec::new();
    let mut config = if args.dev {
        AgentConfig::dev()
    } else {
        AgentConfig::default()
    };
    for path in &args.config {
        let (layers, file_warnings) = read_config_path(path)?;
        warnings.extend(file_warnings);
        for layer in layers {
            config = config.merge(layer);
        }
    }
    config = config.merge(args.layer()?);
    if config.name.is_empty() {
        config.name = hostname.to_string();
    }
    // Nomad checks this against the flag alone: a file may carry
    // bootstrap_expect for a server that is switched on elsewhere.
    if !config.dev_mode && !config.server.enabled && args.bootstrap_expect.is_some_and(|n| n > 0) {
        bail!("-bootstrap-expect: Bootstrap requires server mode to be enabled");
    }
    let (config, more) = config.validate()?;
    warnings.extend(more);
    Ok((config, warnings))
}

/// One `-config` argument: a file, or a directory whose `*.hcl` and
/// `*.json` files (not subdirectories, not editor temporaries) are read in
/// lexical order. Returns a layer per file, in merge order.
pub fn read_config_path(path: &Path) -> anyhow::Result<(Vec<ConfigLayer>, Vec<String>)> {
    let shown = path.display();
    let meta = std::fs::metadata(path).with_context(|| format!("-config {shown}"))?;
    let files = if meta.is_dir() {
        config_files_in(path).with_context(|| format!("-config {shown}"))?
    } else {
        vec![path.to_path_buf()]
    };
    let mut warnings = Vec::new();
    if files.is_empty() {
        warnings.push(format!(
            "-config {shown}: no configuration loaded (no .hcl or .json files)"
        ));
    }
    let mut layers = Vec::with_capacity(files.len());
    for file in files {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(&file).with_context(|| format!("reading {name}"))?;
        let (layer, file_warnings) = parse_config(&name, &text, Format::of(&file))?;
        if layer == ConfigLayer::default() && file_warnings.is_empty() {
            warnings.push(format!("{name}: no configuration loaded"));
        }
        warnings.extend(file_warnings);
        layers.push(layer);
    }
    Ok((layers, warnings))
}

fn config_files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let wanted = name.ends_with(".hcl") || name.ends_with(".json");
        if wanted && !is_temporary_file(name) && !path.is_dir() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Editor leftovers Nomad skips too: vim's `~` backups, emacs's `.#` locks
/// and `#..#` autosaves.
fn is_temporary_file(name: &str) -> bool {
    name.ends_with('~') || name.starts_with(".#") || (name.starts_with('#') && name.ends_with('#'))
}
