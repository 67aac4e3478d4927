//! The allocation directory: layout and modes, path safety, fs helpers.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;

use drover_client::allocdir::{AllocDir, AllocDirError};

const ALLOC: &str = "2f3c8a1e-5a7d-4b0e-9c1f-0123456789ab";

fn built() -> (tempfile::TempDir, AllocDir) {
    let root = tempfile::tempdir().unwrap();
    let dir = AllocDir::new(root.path(), ALLOC);
    dir.build(&["web", "sidecar"]).unwrap();
    (root, dir)
}

fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn layout_and_modes() {
    let (root, dir) = built();
    let a = root.path().join(ALLOC);
    assert_eq!(dir.alloc_dir(), a);
    let want = [
        ("", 0o755),
        ("alloc", 0o755),
        ("alloc/data", 0o777),
        ("alloc/logs", 0o777),
        ("alloc/tmp", 0o777),
        ("web", 0o777),
        ("web/local", 0o777),
        ("web/secrets", 0o700),
        ("web/tmp", 0o1777),
        ("sidecar/secrets", 0o700),
    ];
    for (rel, m) in want {
        let p = a.join(rel);
        assert!(p.is_dir(), "{rel} missing");
        assert_eq!(mode(&p), m, "{rel}: {:o}", mode(&p));
    }
    assert_eq!(dir.shared_dir(), a.join("alloc"));
    assert_eq!(dir.logs_dir(), a.join("alloc/logs"));
    assert_eq!(dir.data_dir(), a.join("alloc/data"));
    assert_eq!(dir.task_dir("web"), a.join("web"));
    assert_eq!(dir.task_local_dir("web"), a.join("web/local"));
    assert_eq!(dir.task_secrets_dir("web"), a.join("web/secrets"));

    // Building again (an agent restart) keeps files.
    fs::write(dir.logs_dir().join("web.stdout.0"), "hi").unwrap();
    dir.build(&["web", "sidecar"]).unwrap();
    assert!(dir.logs_dir().join("web.stdout.0").exists());

    dir.destroy().unwrap();
    assert!(!a.exists());
    dir.destroy().unwrap(); // already gone is fine
}

#[test]
fn bad_task_names_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = AllocDir::new(root.path(), ALLOC);
    for bad in ["", "..", ".", "a/b", "/etc", "alloc"] {
        let err = dir.build(&[bad]).unwrap_err();
        assert!(
            matches!(err, AllocDirError::InvalidName { .. }),
            "{bad:?}: {err}"
        );
    }
    let dir = AllocDir::new(root.path(), "../x");
    assert!(matches!(
        dir.build(&[]),
        Err(AllocDirError::InvalidName { .. })
    ));
}

#[track_caller]
fn check_escapes(dir: &AllocDir, rel: &str) {
    match dir.resolve(rel) {
        Err(AllocDirError::Escapes { path }) => assert_eq!(path, rel),
        other => panic!("{rel:?} should escape, got {other:?}"),
    }
}

#[test]
fn resolve_refuses_escapes() {
    let (_root, dir) = built();
    let a = fs::canonicalize(dir.alloc_dir()).unwrap();
    check_escapes(&dir, "..");
    check_escapes(&dir, "../");
    check_escapes(&dir, "../../etc/passwd");
    check_escapes(&dir, "alloc/../../x");
    check_escapes(&dir, "/../etc/passwd");

    // A symlink to /etc, and one to the alloc root's parent, inside the dir.
    symlink("/etc", dir.task_local_dir("web").join("etc")).unwrap();
    symlink("..", dir.alloc_dir().join("up")).unwrap();
    check_escapes(&dir, "web/local/etc");
    check_escapes(&dir, "web/local/etc/passwd");
    check_escapes(&dir, "web/local/etc/does-not-exist");
    check_escapes(&dir, "up");
    assert!(matches!(
        dir.list("web/local/etc"),
        Err(AllocDirError::Escapes { .. })
    ));
    assert!(matches!(
        dir.stat("web/local/etc/passwd"),
        Err(AllocDirError::Escapes { .. })
    ));
    assert!(matches!(
        dir.read_at("web/local/etc/passwd", 0, 100),
        Err(AllocDirError::Escapes { .. })
    ));

    // Paths are relative to the alloc dir even with a leading slash (Nomad's
    // `/alloc/logs`), so `/etc/passwd` can never reach the host's file.
    assert_eq!(dir.resolve("/etc/passwd").unwrap(), a.join("etc/passwd"));
    assert!(matches!(
        dir.stat("/etc/passwd"),
        Err(AllocDirError::NotFound { .. })
    ));
    assert!(matches!(
        dir.read_at("/etc/passwd", 0, 10),
        Err(AllocDirError::NotFound { .. })
    ));

    // Harmless `..` and symlinks that stay inside resolve.
    assert_eq!(dir.resolve("").unwrap(), a);
    assert_eq!(dir.resolve("/").unwrap(), a);
    assert_eq!(
        dir.resolve("web/../alloc/./logs").unwrap(),
        a.join("alloc/logs")
    );
    symlink("../../alloc/data", dir.task_local_dir("web").join("data")).unwrap();
    assert_eq!(dir.resolve("web/local/data").unwrap(), a.join("alloc/data"));
}

#[test]
fn list_and_stat_shapes() {
    let (_root, dir) = built();
    fs::write(dir.logs_dir().join("web.stdout.0"), "hello\n").unwrap();
    fs::set_permissions(
        dir.logs_dir().join("web.stdout.0"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    fs::write(dir.logs_dir().join("blob"), [0u8, 1, 2, 3]).unwrap();
    fs::write(dir.data_dir().join("conf.json"), "{}").unwrap();

    let root: Vec<_> = dir.list("/").unwrap();
    let names: Vec<_> = root.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["alloc", "sidecar", "web"]);
    assert!(root.iter().all(|f| f.is_dir && f.content_type.is_empty()));
    assert_eq!(root[0].file_mode, "drwxr-xr-x");
    assert_eq!(
        dir.list("web")
            .unwrap()
            .iter()
            .find(|f| f.name == "tmp")
            .unwrap()
            .file_mode,
        "dtrwxrwxrwx"
    );

    let logs = dir.list("alloc/logs").unwrap();
    let out = logs.iter().find(|f| f.name == "web.stdout.0").unwrap();
    assert_eq!(
        (out.size, out.is_dir, out.file_mode.as_str()),
        (6, false, "-rw-r--r--")
    );
    assert!(out.mod_time > 1_600_000_000_000_000_000);

    let st = dir.stat("/alloc/logs/web.stdout.0").unwrap();
    assert_eq!(st.name, "web.stdout.0");
    assert_eq!(st.content_type, "text/plain; charset=utf-8");
    let json = serde_json::to_value(&st).unwrap();
    let keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys.len(), 6, "{keys:?}");
    assert!(json["ModTime"].as_str().unwrap().ends_with('Z'));
    assert_eq!(
        dir.stat("alloc/logs/blob").unwrap().content_type,
        "application/octet-stream"
    );
    assert_eq!(
        dir.stat("alloc/data/conf.json").unwrap().content_type,
        "application/json"
    );
    let d = dir.stat("alloc").unwrap();
    assert!(d.is_dir);
    assert_eq!(d.content_type, "application/octet-stream");

    assert!(matches!(
        dir.stat("nope"),
        Err(AllocDirError::NotFound { .. })
    ));
    assert!(matches!(
        dir.list("nope"),
        Err(AllocDirError::NotFound { .. })
    ));
}

#[test]
fn read_at_windows() {
    let (_root, dir) = built();
    fs::write(dir.logs_dir().join("f"), "0123456789").unwrap();
    let check = |off, lim, want: &str| {
        assert_eq!(
            dir.read_at("alloc/logs/f", off, lim).unwrap(),
            want.as_bytes(),
            "{off} {lim}"
        );
    };
    check(0, 4, "0123");
    check(8, 4, "89");
    check(10, 4, "");
    check(50, 4, "");
    check(3, 0, "");
    assert!(dir.read_at("alloc/logs", 0, 4).is_err());
}
