//! The address other servers reach this agent at when it listens on every
//! interface (`bind_addr = "0.0.0.0"`, Nomad's default).
//!
//! Nomad then advertises the first private IPv4 address of the machine
//! (go-sockaddr's `GetPrivateIP`, used by `normalizeAdvertise` in
//! `command/agent/config.go`): RFC 1918 or RFC 6598, on an interface that
//! is up. Drover does the same, and falls back to any other non-loopback
//! IPv4 address (a machine with only a public one).

use std::net::{IpAddr, Ipv4Addr};

/// The IP to advertise for listeners bound at `bind`; `None` when `bind`
/// is a concrete address (it is advertised as is) or no address is found.
pub fn advertise_ip(bind: IpAddr) -> Option<IpAddr> {
    if !bind.is_unspecified() {
        return None;
    }
    let addrs = interface_ipv4s();
    let private =
        |ip: &Ipv4Addr| ip.is_private() || (ip.octets()[0] == 100 && ip.octets()[1] & 0xc0 == 64);
    addrs
        .iter()
        .find(|ip| private(ip))
        .or_else(|| {
            addrs
                .iter()
                .find(|ip| !ip.is_loopback() && !ip.is_link_local())
        })
        .map(|ip| IpAddr::V4(*ip))
}

/// The IPv4 addresses of the interfaces that are up, loopback excluded.
fn interface_ipv4s() -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head through a valid pointer; the
    // list is read only while it lives and freed once below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return out;
    }
    let mut cur = head;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        let up = ifa.ifa_flags & (libc::IFF_UP as libc::c_uint) != 0;
        let loopback = ifa.ifa_flags & (libc::IFF_LOOPBACK as libc::c_uint) != 0;
        if ifa.ifa_addr.is_null() || !up || loopback {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points at a sockaddr whose
        // family says which struct it is.
        if i32::from(unsafe { (*ifa.ifa_addr).sa_family }) != libc::AF_INET {
            continue;
        }
        // SAFETY: an AF_INET address is a sockaddr_in.
        let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
        out.push(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
    }
    // SAFETY: `head` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(head) };
    out
}
