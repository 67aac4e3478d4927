//! The RPC port: a body that does not decode is a 400 naming the request,
//! the sender's client reports it as an error, and the server goes on
//! answering. Over the same prior-knowledge HTTP/2 that servers use.

mod common;

use std::time::Duration;

use common::Srv;
use drover_server::cluster::{Announce, Identity, PeerStatus, IDENTITY_PATH, JOIN_PATH};
use drover_server::raft::network::{RpcClient, RpcFailure, APPEND_PATH, SNAPSHOT_PATH, VOTE_PATH};

const TTL: Duration = Duration::from_secs(10);

fn h2c() -> reqwest::Client {
    reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap()
}

#[tokio::test]
async fn an_undecodable_rpc_body_is_a_400_and_the_sender_sees_an_error() {
    let srv = Srv::start().await;
    let addr = srv.s.rpc_addr.to_string();
    let http = h2c();
    // Not MessagePack at all, and MessagePack of the wrong shape.
    let garbage: [&[u8]; 3] = [b"\xc1\xc1\xc1 not msgpack", b"", &[0x93, 0x01, 0x02, 0x03]];
    for path in [
        APPEND_PATH,
        VOTE_PATH,
        SNAPSHOT_PATH,
        IDENTITY_PATH,
        JOIN_PATH,
    ] {
        for body in garbage {
            let r = http
                .post(format!("http://{addr}{path}"))
                .body(body.to_vec())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 400, "{path} with {body:?}");
            let text = r.text().await.unwrap();
            assert!(text.starts_with("cannot decode the "), "{path}: {text}");
        }
    }

    // The client servers use: a vote request that is a string instead.
    let client = RpcClient::new(None).unwrap();
    let err = client
        .call::<_, PeerStatus>(&addr, VOTE_PATH, &"not a vote", TTL)
        .await
        .unwrap_err();
    match err {
        RpcFailure::Status {
            status, message, ..
        } => {
            assert_eq!(status, 400);
            assert!(message.contains("vote"), "{message}");
        }
        other => panic!("expected a 400, got {other}"),
    }

    // Still serving: an identity exchange works.
    let me = Identity {
        node_id: 7,
        name: "test".into(),
        region: "global".into(),
        rpc_addr: "127.0.0.1:1".into(),
        http_addr: "127.0.0.1:2".into(),
        bootstrap_expect: 1,
        datacenter: "dc1".into(),
        version: "0.0.0".into(),
    };
    let status: PeerStatus = client
        .call(
            &addr,
            IDENTITY_PATH,
            &Announce {
                from: me,
                cluster_id: None,
            },
            TTL,
        )
        .await
        .unwrap();
    assert_eq!(status.identity.node_id, srv.s.raft.node_id);
    assert!(status.initialized);
    assert_eq!(status.voters, vec![srv.s.raft.node_id]);
    assert_eq!(status.identity.rpc_addr, addr);
}

#[tokio::test]
async fn an_unreachable_peer_is_unreachable_not_a_hang() {
    let client = RpcClient::new(None).unwrap();
    // Port 1 on loopback: nothing listens, the connect is refused.
    let err = client
        .call::<_, PeerStatus>("127.0.0.1:1", VOTE_PATH, &"x", TTL)
        .await
        .unwrap_err();
    assert!(
        matches!(err, RpcFailure::Unreachable { .. }),
        "expected unreachable, got {err}"
    );
}
