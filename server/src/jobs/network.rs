//! Port checks across a group's networks and its tasks' networks:
//! `TaskGroup.validateNetworks` in nomad/structs/structs.go.
//!
//! Labels must be unique among the group's ports (a task's port may not
//! reuse a group label), and a static port may be reserved once per host
//! network across the group and all its tasks, because all of them land on
//! the same node.

use std::collections::BTreeMap;

use drover_api::{Port, TaskGroup};

use super::validate::{field, Errors};

const MAX_PORT: i64 = u16::MAX as i64;

pub(super) fn validate_networks(tg: &TaskGroup, path: &str, errs: &mut Errors) {
    let mut labels: BTreeMap<&str, ()> = BTreeMap::new();
    // (host network, port) -> who reserved it, for the error message.
    let mut static_ports: BTreeMap<(&str, i64), String> = BTreeMap::new();

    for (n, net) in tg.networks.iter().enumerate() {
        let net_path = field(path, &format!("Networks[{n}]"));
        for (port, port_path) in ports(&net.reserved_ports, &net.dynamic_ports, &net_path) {
            if labels.insert(&port.label, ()).is_some() {
                errs.add(
                    field(&port_path, "Label"),
                    format!(
                        "Port label {} already in use by taskgroup network",
                        port.label
                    ),
                );
            }
            let owner = format!("taskgroup network:{}", port.label);
            check_static_port(port, &port_path, owner, &mut static_ports, errs);
            if port.to < -1 {
                errs.add(
                    field(&port_path, "To"),
                    format!(
                        "Port {:?} cannot be mapped to negative value {}",
                        port.label, port.to
                    ),
                );
            } else if port.to > MAX_PORT {
                errs.add(
                    field(&port_path, "To"),
                    format!(
                        "Port {:?} cannot be mapped to a port ({}) greater than {MAX_PORT}",
                        port.label, port.to
                    ),
                );
            }
        }
    }

    for (t, task) in tg.tasks.iter().enumerate() {
        for (n, net) in task.resources.networks.iter().enumerate() {
            let net_path = field(path, &format!("Tasks[{t}].Resources.Networks[{n}]"));
            for (port, port_path) in ports(&net.reserved_ports, &net.dynamic_ports, &net_path) {
                if labels.contains_key(port.label.as_str()) {
                    errs.add(
                        field(&port_path, "Label"),
                        format!(
                            "Port label {} already in use by taskgroup network",
                            port.label
                        ),
                    );
                }
                let owner = format!("{}:{}", task.name, port.label);
                check_static_port(port, &port_path, owner, &mut static_ports, errs);
            }
        }
    }
}

/// Reserved ports then dynamic ports, each with its path.
fn ports<'a>(reserved: &'a [Port], dynamic: &'a [Port], net_path: &str) -> Vec<(&'a Port, String)> {
    let reserved = reserved
        .iter()
        .enumerate()
        .map(|(i, p)| (p, field(net_path, &format!("ReservedPorts[{i}]"))));
    let dynamic = dynamic
        .iter()
        .enumerate()
        .map(|(i, p)| (p, field(net_path, &format!("DynamicPorts[{i}]"))));
    reserved.chain(dynamic).collect()
}

fn check_static_port<'a>(
    port: &'a Port,
    port_path: &str,
    owner: String,
    static_ports: &mut BTreeMap<(&'a str, i64), String>,
    errs: &mut Errors,
) {
    if port.value == 0 {
        return; // dynamic: the scheduler picks it
    }
    let host_network = if port.host_network.is_empty() {
        "default"
    } else {
        port.host_network.as_str()
    };
    let value_path = field(port_path, "Value");
    if let Some(other) = static_ports.get(&(host_network, port.value)) {
        errs.add(
            value_path,
            format!("Static port {} already reserved by {other}", port.value),
        );
    } else if port.value > MAX_PORT {
        errs.add(
            value_path,
            format!(
                "Port {} ({}) cannot be greater than {MAX_PORT}",
                port.label, port.value
            ),
        );
    } else if port.value < 0 {
        // Not checked by Nomad; no node could ever offer such a port.
        errs.add(
            value_path,
            format!("Port {} ({}) cannot be negative", port.label, port.value),
        );
    } else {
        static_ports.insert((host_network, port.value), owner);
    }
}
