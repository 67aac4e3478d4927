//! The event stream's shapes (`GET /v1/event/stream`, nomad/structs/event.go).

use serde::{Deserialize, Serialize};

use crate::{Allocation, Deployment, Evaluation, ExecSession, Job, Node};

/// Event topics Drover emits. `*` subscribes to all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Topic {
    Job,
    Evaluation,
    Allocation,
    Node,
    Deployment,
    /// Exec and attach sessions (a Drover extension).
    Exec,
    #[serde(rename = "*")]
    All,
}

impl Topic {
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Job => "Job",
            Topic::Evaluation => "Evaluation",
            Topic::Allocation => "Allocation",
            Topic::Node => "Node",
            Topic::Deployment => "Deployment",
            Topic::Exec => "Exec",
            Topic::All => "*",
        }
    }

    /// Parse a `topic=` query value's topic part; `None` for an unknown topic.
    pub fn parse(s: &str) -> Option<Topic> {
        [
            Topic::Job,
            Topic::Evaluation,
            Topic::Allocation,
            Topic::Node,
            Topic::Deployment,
            Topic::Exec,
            Topic::All,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
}

/// The one object an event carries, tagged as Nomad tags it:
/// `{"Job":{…}}`, `{"Allocation":{…}}`, …
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum EventPayload {
    Job(Box<Job>),
    Evaluation(Box<Evaluation>),
    /// Sent without its `Job`, as Nomad strips it to keep events small.
    Allocation(Box<Allocation>),
    /// Sent with `SecretID` blanked.
    Node(Box<Node>),
    Deployment(Box<Deployment>),
    ExecSession(Box<ExecSession>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "Topic")]
    pub topic: Topic,
    /// Derived from the write that caused it (`JobRegistered`, `PlanResult`,
    /// `AllocationUpdated`, `NodeRegistration`, …), as Nomad derives it from
    /// the Raft message type.
    #[serde(rename = "Type")]
    pub event_type: String,
    #[serde(rename = "Key")]
    pub key: String,
    #[serde(rename = "Namespace", default)]
    pub namespace: String,
    /// Extra keys a `Topic:key` subscription matches (an allocation's job ID
    /// and deployment ID).
    #[serde(
        rename = "FilterKeys",
        default,
        deserialize_with = "crate::null_default"
    )]
    pub filter_keys: Vec<String>,
    #[serde(rename = "Index")]
    pub index: u64,
    #[serde(rename = "Payload")]
    pub payload: EventPayload,
}

/// One NDJSON line of the stream: every event of one Raft index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Events {
    #[serde(rename = "Index")]
    pub index: u64,
    #[serde(rename = "Events", deserialize_with = "crate::null_default")]
    pub events: Vec<Event>,
}
