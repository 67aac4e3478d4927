//! Listing as the HTTP layer will do it: read from the state starting at the
//! page token, filter the full object, cut the page. Real `Allocation`s and
//! `Job`s from real applies, not synthetic items.

mod common;

use common::*;
use drover_api::*;
use drover_state::filter::Filter;
use drover_state::pagination::{paginate, Page, PageRequest, SortKey, TokenKind};
use drover_state::{NamespaceSel, WatchSet};

/// 250 allocations over 25 jobs: plans of 10 at indexes 26..=50, so create
/// indexes cross from two to three digits (the nomad#25435 boundary).
fn cluster() -> Harness {
    let mut h = Harness::new();
    let jobs: Vec<Job> = (0..25)
        .map(|i| {
            job(
                if i % 2 == 0 { "default" } else { "team" },
                &format!("job-{i:02}"),
                &[("g", 10)],
            )
        })
        .collect();
    // The `team` namespace comes in the first entry, so indexes stay as
    // they were before namespaces had to exist.
    let team = drover_state::Command::NamespaceUpsert(drover_state::command::NamespaceUpsert {
        namespaces: vec![Namespace {
            name: "team".into(),
            ..Namespace::default()
        }],
        now: T0,
    });
    h.ok(drover_state::Command::Batch(vec![
        team,
        register(&jobs[0], None),
    ]));
    for j in &jobs[1..] {
        h.ok(register(j, None));
    }
    for (i, j) in jobs.iter().enumerate() {
        let allocs = (0..10)
            .map(|k| {
                alloc(
                    &format!("{:02}{k}-alloc", (i * 7) % 25),
                    j,
                    "g",
                    &format!("n{}", k % 3),
                    "e1",
                )
            })
            .collect();
        h.ok(plan(j, allocs, vec![]));
    }
    for i in 0..250 {
        if i % 3 == 0 {
            let id = format!("{:02}{}-alloc", ((i / 10) * 7) % 25, i % 10);
            h.ok(client_update(&id, AllocClientStatus::Running));
        }
    }
    h
}

fn alloc_page(h: &Harness, req: &PageRequest, filter: Option<&Filter>) -> Page<String> {
    let start = req
        .start_key(TokenKind::CreateIndexId)
        .expect("valid token");
    let mut ws = WatchSet::new();
    let rows = h.state.allocs(&mut ws, start.as_ref(), req.reverse);
    let page = paginate(
        rows,
        TokenKind::CreateIndexId,
        req,
        |r| SortKey::CreateIndexId(r.alloc.create_index, r.alloc.id.clone()),
        |r| filter.map_or(Ok(true), |f| f.matches(&r.alloc)),
    )
    .expect("page");
    Page {
        items: page.items.into_iter().map(|r| r.alloc.id.clone()).collect(),
        next_token: page.next_token,
    }
}

fn walk(
    h: &Harness,
    per_page: u32,
    reverse: bool,
    filter: Option<&Filter>,
) -> (Vec<String>, usize) {
    let mut req = PageRequest {
        per_page,
        next_token: None,
        reverse,
    };
    let (mut all, mut pages) = (Vec::new(), 0);
    loop {
        let page = alloc_page(h, &req, filter);
        pages += 1;
        if page.next_token.is_some() {
            assert_eq!(
                page.items.len(),
                per_page as usize,
                "every page but the last is full"
            );
        }
        all.extend(page.items);
        match page.next_token {
            Some(t) => req.next_token = Some(t),
            None => return (all, pages),
        }
        assert!(pages <= 300, "pagination does not terminate");
    }
}

#[test]
fn allocations_page_exactly_once_in_order_with_and_without_filter() {
    let h = cluster();
    let mut ws = WatchSet::new();
    let ordered: Vec<String> = h
        .state
        .allocs(&mut ws, None, false)
        .map(|r| r.alloc.id.clone())
        .collect();
    assert_eq!(ordered.len(), 250);
    let running = Filter::parse(r#"ClientStatus == "running" and TaskGroup == "g""#).unwrap();
    let expect_running: Vec<String> = ordered
        .iter()
        .filter(|id| {
            h.state
                .alloc(&mut WatchSet::new(), id)
                .unwrap()
                .alloc
                .client_status
                == AllocClientStatus::Running
        })
        .cloned()
        .collect();
    assert_eq!(expect_running.len(), 84);
    for per_page in [1, 7, 1000] {
        for reverse in [false, true] {
            for (filter, expected) in [(None, &ordered), (Some(&running), &expect_running)] {
                let (got, pages) = walk(&h, per_page, reverse, filter);
                let mut want = expected.clone();
                if reverse {
                    want.reverse();
                }
                assert_eq!(
                    got,
                    want,
                    "per_page={per_page} reverse={reverse} filter={}",
                    filter.is_some()
                );
                assert_eq!(pages, want.len().div_ceil(per_page as usize).max(1));
            }
        }
    }
}

#[test]
fn jobs_page_by_namespace_then_id_across_namespaces() {
    let h = cluster();
    let ids = |req: &PageRequest| {
        let start = req.start_key(TokenKind::NamespaceId).unwrap();
        let mut ws = WatchSet::new();
        let jobs = h
            .state
            .jobs(&mut ws, NamespaceSel::All, "", start.as_ref(), req.reverse);
        let page = paginate(
            jobs,
            TokenKind::NamespaceId,
            req,
            |j| SortKey::NamespaceId(j.namespace.clone(), j.id.clone()),
            |_| Ok::<_, ()>(true),
        )
        .unwrap();
        (
            page.items
                .iter()
                .map(|j| format!("{}.{}", j.namespace, j.id))
                .collect::<Vec<_>>(),
            page.next_token,
        )
    };
    let mut req = PageRequest {
        per_page: 10,
        next_token: None,
        reverse: false,
    };
    let mut all = Vec::new();
    loop {
        let (items, next) = ids(&req);
        all.extend(items);
        let Some(t) = next else { break };
        req.next_token = Some(t);
    }
    assert_eq!(all.len(), 25);
    assert!(
        all.windows(2).all(|w| w[0] < w[1]),
        "default.* before team.*, ids in order"
    );
    assert_eq!(all[12], "default.job-24");
    assert_eq!(all[13], "team.job-01");
}

#[test]
fn filters_see_nomad_field_names_on_real_objects() {
    let h = cluster();
    let mut ws = WatchSet::new();
    let job = h.state.job(&mut ws, "team", "job-03").unwrap();
    let yes = [
        r#"ID == "job-03""#,
        r#"Namespace == team and Type == service"#,
        r#"TaskGroups.0.Tasks.0.Resources.MemoryMB == 64"#,
        r#"Meta.env == "test""#,
        r#""dc1" in Datacenters"#,
        r#"Meta.missing is empty"#,
        r#"Status == running"#,
    ];
    for f in yes {
        assert_eq!(Filter::parse(f).unwrap().matches(job), Ok(true), "{f}");
    }
    let err = Filter::parse("NoSuchField == 1")
        .unwrap()
        .matches(job)
        .unwrap_err();
    assert_eq!(
        err.pos, 0,
        "an unknown field is an error at its position: {err}"
    );
    let row = h.state.alloc(&mut ws, "000-alloc").unwrap();
    let full = h.state.alloc_with_job(row);
    assert_eq!(
        Filter::parse(r#"Job.ID == "job-00" and NodeID == n0"#)
            .unwrap()
            .matches(&full),
        Ok(true)
    );
    // 000-alloc reported `running` with no task states (the helper sends none).
    let running = Filter::parse(r#"ClientStatus == "running" and TaskStates is empty"#).unwrap();
    assert_eq!(running.matches(&full), Ok(true));
}
