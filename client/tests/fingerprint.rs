//! Fingerprinting: real attributes on this machine, parsers, computed class.

use std::collections::BTreeMap;
use std::path::Path;

use drover_api::{DriverInfo, NodeStatus, SchedulingEligibility};
use drover_client::fingerprint::{
    build_node, compute_class, fingerprint, go_arch, mount_source, parse_cpu_list, parse_cpuinfo,
    parse_meminfo_total, parse_os_release, CpuFacts, FingerprintConfig, HostFacts, OsRelease,
    StorageFacts, DEFAULT_CPU_MHZ,
};

fn cfg(data_dir: &Path) -> FingerprintConfig {
    FingerprintConfig {
        node_id: "9d3a5a8e-0000-4000-8000-000000000001".into(),
        datacenter: "dc1".into(),
        http_addr: "127.0.0.1:4646".into(),
        data_dir: data_dir.to_path_buf(),
        meta: BTreeMap::from([("rack".into(), "r1".into())]),
        ..FingerprintConfig::default()
    }
}

fn raw_exec() -> BTreeMap<String, DriverInfo> {
    BTreeMap::from([(
        "raw_exec".to_string(),
        DriverInfo {
            attributes: BTreeMap::from([("driver.raw_exec".into(), "1".into())]),
            detected: true,
            healthy: true,
            health_description: "Healthy".into(),
            update_time: None,
        },
    )])
}

#[test]
fn this_machine() {
    let dir = tempfile::tempdir().unwrap();
    let node = fingerprint(&cfg(dir.path()), raw_exec());
    let a = &node.attributes;
    let num = |k: &str| -> u64 { a[k].parse().unwrap_or_else(|_| panic!("{k}={}", a[k])) };

    assert_eq!(a["kernel.name"], "linux");
    assert!(!a["kernel.version"].is_empty());
    let os = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    if !os.is_empty() {
        assert!(!a["os.name"].is_empty());
        assert!(os.contains(&a["os.name"]));
    }
    assert_eq!(a["cpu.arch"], go_arch(std::env::consts::ARCH));
    assert!(["amd64", "arm64"].contains(&a["cpu.arch"].as_str()) || !a["cpu.arch"].is_empty());

    let cores = num("cpu.numcores");
    let procs = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count() as u64;
    let par = std::thread::available_parallelism().unwrap().get() as u64;
    assert!(cores >= 1);
    assert!(cores == procs || cores == par, "{cores} vs {procs}/{par}");
    assert!(num("cpu.reservablecores") >= 1 && num("cpu.reservablecores") <= cores);
    let mhz = num("cpu.frequency");
    assert!(mhz > 0);
    assert!(num("cpu.totalcompute") >= mhz && num("cpu.totalcompute") <= mhz * cores);
    assert!(num("memory.totalbytes") > 0);
    assert!(!a["unique.hostname"].is_empty());
    assert!(!a["unique.storage.volume"].is_empty());
    assert!(num("unique.storage.bytestotal") >= num("unique.storage.bytesfree"));
    assert!(num("unique.storage.bytestotal") > 0);
    assert_eq!(a["unique.network.ip-address"], "127.0.0.1");
    assert_eq!(a["unique.advertise.address"], "127.0.0.1:4646");
    assert_eq!(a["drover.version"], env!("CARGO_PKG_VERSION"));
    assert!(a["nomad.version"].starts_with("1."));
    assert_eq!(a["driver.raw_exec"], "1");

    let r = &node.node_resources;
    assert_eq!(r.cpu.cpu_shares as u64, num("cpu.totalcompute"));
    assert_eq!(u64::from(r.cpu.total_cpu_cores), cores);
    assert_eq!(
        r.memory.memory_mb as u64,
        num("memory.totalbytes") / (1 << 20)
    );
    assert_eq!(
        r.disk.disk_mb as u64,
        num("unique.storage.bytesfree") / (1 << 20)
    );
    assert_eq!((r.min_dynamic_port, r.max_dynamic_port), (20000, 32000));
    assert_eq!(r.networks.len(), 1);
    assert_eq!(r.networks[0].ip, "127.0.0.1");
    assert_eq!(r.networks[0].cidr, "127.0.0.1/32");
    assert_eq!(r.networks[0].device, "lo");

    assert_eq!(node.status, NodeStatus::Initializing);
    assert_eq!(node.scheduling_eligibility, SchedulingEligibility::Eligible);
    assert_eq!(node.name, a["unique.hostname"]);
    assert_eq!(node.node_pool, "default");
    assert_eq!(node.drivers.len(), 1);
    assert!(node.computed_class.starts_with("v1:"));
    assert!(node.computed_class[3..].parse::<u64>().is_ok());
    assert_eq!(node.computed_class, compute_class(&node));
    assert_eq!(node.meta["rack"], "r1");
    // Serializes as a registration body.
    let json = serde_json::to_value(&node).unwrap();
    assert_eq!(json["Attributes"]["kernel.name"], "linux");
}

#[test]
fn missing_data_dir_measures_its_parent() {
    let dir = tempfile::tempdir().unwrap();
    let node = fingerprint(&cfg(&dir.path().join("not/yet")), BTreeMap::new());
    assert!(node.attributes.contains_key("unique.storage.bytestotal"));
    assert!(!node.attributes.contains_key("driver.raw_exec"));
}

fn facts() -> HostFacts {
    HostFacts {
        hostname: "h1".into(),
        kernel_version: "6.1.0".into(),
        kernel_arch: "x86_64".into(),
        os: OsRelease {
            id: "debian".into(),
            version_id: "12".into(),
        },
        cpu: CpuFacts {
            model_name: "Test CPU".into(),
            core_mhz: BTreeMap::from([(0, 2000), (1, 2000), (2, 3000), (3, 3000)]),
            usable_cores: vec![0, 1],
        },
        memory_total_bytes: 8 << 30,
        storage: Some(StorageFacts {
            volume: "/dev/sda1".into(),
            bytes_total: 100 << 30,
            bytes_free: 40 << 30,
        }),
    }
}

#[test]
fn build_node_from_facts() {
    let mut c = cfg(Path::new("/x"));
    c.name = "n1".into();
    c.node_pool = "gpu".into();
    let node = build_node(&c, &facts(), BTreeMap::new());
    let a = &node.attributes;
    assert_eq!(a["cpu.numcores"], "4");
    assert_eq!(a["cpu.frequency"], "3000");
    assert_eq!(a["cpu.totalcompute"], "10000");
    assert_eq!(a["cpu.usablecompute"], "4000");
    assert_eq!(a["cpu.reservablecores"], "2");
    assert_eq!(a["cpu.modelname"], "Test CPU");
    assert_eq!(a["os.name"], "debian");
    assert_eq!(a["os.version"], "12");
    assert_eq!(a["memory.totalbytes"], (8u64 << 30).to_string());
    assert_eq!(node.node_resources.memory.memory_mb, 8192);
    assert_eq!(node.node_resources.disk.disk_mb, 40 * 1024);
    assert_eq!(node.node_resources.cpu.reservable_cpu_cores, vec![0, 1]);
    assert_eq!((node.name.as_str(), node.node_pool.as_str()), ("n1", "gpu"));

    // Overrides, as Nomad's cpu_total_compute / memory_total_mb.
    c.cpu_total_compute = 8000;
    c.memory_total_mb = 1024;
    c.min_dynamic_port = 25000;
    let node = build_node(&c, &facts(), BTreeMap::new());
    assert_eq!(node.attributes["cpu.totalcompute"], "8000");
    assert_eq!(node.attributes["cpu.frequency"], "2000");
    assert_eq!(node.node_resources.cpu.cpu_shares, 8000);
    assert_eq!(node.node_resources.memory.memory_mb, 1024);
    assert_eq!(node.node_resources.min_dynamic_port, 25000);

    // No frequency anywhere: Nomad's 1000 MHz guess per core.
    let mut f = facts();
    f.cpu.core_mhz.clear();
    let node = build_node(&cfg(Path::new("/x")), &f, BTreeMap::new());
    assert_eq!(
        node.attributes["cpu.totalcompute"],
        DEFAULT_CPU_MHZ.to_string()
    );
    assert_eq!(node.attributes["cpu.numcores"], "1");
}

#[test]
fn computed_class_ignores_unique_and_tracks_class_fields() {
    let base = build_node(&cfg(Path::new("/x")), &facts(), raw_exec());
    let class = |f: &dyn Fn(&mut drover_api::Node)| {
        let mut n = base.clone();
        f(&mut n);
        compute_class(&n)
    };
    let same = |f: &dyn Fn(&mut drover_api::Node)| assert_eq!(class(f), base.computed_class);
    let differs = |f: &dyn Fn(&mut drover_api::Node)| assert_ne!(class(f), base.computed_class);

    same(&|_| {});
    same(&|n| n.id = "other".into());
    same(&|n| n.name = "other".into());
    same(&|n| n.http_addr = "10.0.0.9:4646".into());
    same(&|n| {
        n.attributes.insert("unique.hostname".into(), "zzz".into());
    });
    same(&|n| {
        n.attributes
            .insert("unique.storage.bytesfree".into(), "1".into());
    });
    same(&|n| {
        n.meta.insert("unique.serial".into(), "abc".into());
    });
    same(&|n| n.drivers.clear());

    differs(&|n| {
        n.meta.insert("rack".into(), "r2".into());
    });
    differs(&|n| {
        n.meta.insert("zone".into(), "a".into());
    });
    differs(&|n| {
        n.attributes.insert("kernel.version".into(), "7.0".into());
    });
    differs(&|n| n.datacenter = "dc2".into());
    differs(&|n| n.node_class = "big".into());
    differs(&|n| n.node_pool = "gpu".into());
    // Moving a byte between key and value must not collide.
    differs(&|n| {
        n.meta.remove("rack");
        n.meta.insert("rackr".into(), "1".into());
    });

    // Stable across runs: a fixed value guards against accidental changes.
    let fixed = drover_api::Node {
        datacenter: "dc1".into(),
        ..Default::default()
    };
    assert_eq!(compute_class(&fixed), "v1:10414429665085353618");
}

#[test]
fn parsers() {
    let info = parse_cpuinfo(
        "processor\t: 0\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2596.138\n\n\
         processor\t: 1\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2400.000\n\nprocessor : 2\n",
    );
    assert_eq!(info.model_name, "AMD EPYC");
    assert_eq!(info.mhz, BTreeMap::from([(0, 2596), (1, 2400), (2, 0)]));
    assert_eq!(parse_cpuinfo("cpu MHz : nan\ngarbage").mhz.len(), 0);

    assert_eq!(
        parse_cpu_list("0-3,8,10-11\n".trim()),
        vec![0, 1, 2, 3, 8, 10, 11]
    );
    assert_eq!(parse_cpu_list("0"), vec![0]);
    assert_eq!(parse_cpu_list(""), Vec::<u16>::new());
    assert_eq!(parse_cpu_list("x-1,2"), vec![2]);

    assert_eq!(
        parse_meminfo_total("MemTotal:       16384 kB\nMemFree: 1 kB"),
        Some(16384 * 1024)
    );
    assert_eq!(parse_meminfo_total("MemFree: 1 kB"), None);

    let os = parse_os_release("NAME=\"Ubuntu\"\nID=ubuntu\nVERSION_ID=\"22.04\"\n");
    assert_eq!(
        (os.id.as_str(), os.version_id.as_str()),
        ("ubuntu", "22.04")
    );

    let mi = "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n\
              30 22 0:5 / /data rw - xfs /dev/sdb1 rw\n\
              31 22 0:6 / /my\\040disk rw - xfs /dev/sdc1 rw\n\
              bad line\n";
    assert_eq!(
        mount_source(mi, Path::new("/data/nomad")).as_deref(),
        Some("/dev/sdb1")
    );
    assert_eq!(
        mount_source(mi, Path::new("/datax")).as_deref(),
        Some("/dev/sda1")
    );
    assert_eq!(
        mount_source(mi, Path::new("/my disk/x")).as_deref(),
        Some("/dev/sdc1")
    );
    assert_eq!(mount_source("", Path::new("/")), None);
    // Out-of-range and truncated escapes stay literal.
    let odd = "1 1 0:1 / /a\\777b\\04 rw - tmpfs none rw\n";
    assert_eq!(
        mount_source(odd, Path::new("/a\\777b\\04/x")).as_deref(),
        Some("none")
    );

    assert_eq!(go_arch("x86_64"), "amd64");
    assert_eq!(go_arch("aarch64"), "arm64");
    assert_eq!(go_arch("riscv64"), "riscv64");
}
