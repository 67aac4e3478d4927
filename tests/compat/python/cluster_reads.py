"""Status, nodes, allocations, evaluations, the client's files and logs,
alloc signal/restart/stop and the event stream, through python-nomad,
asserting what Nomad's API pages document (api-docs/status, nodes,
allocations, evaluations, client, events).
"""

import base64
import json
import queue

from compat import check, client, refused, step, until
from nomad.api.exceptions import URLNotFoundNomadException

JOB_ID = "compat-reads"
SCRIPT = (
    "trap 'echo got USR1' USR1; echo started; echo data > local/file.txt; "
    "while true; do sleep 0.2; done"
)
JOB = {
    "Job": {
        "ID": JOB_ID,
        "Meta": {"suite": "compat"},
        "TaskGroups": [
            {
                "Name": "g",
                "Tasks": [
                    {
                        "Name": "t",
                        "Driver": "raw_exec",
                        "Config": {"command": "/bin/sh", "args": ["-c", SCRIPT]},
                        "Resources": {"CPU": 50, "MemoryMB": 32},
                    }
                ],
            }
        ],
    }
}

n = client()

step("status: the leader is one of the peers (api-docs/status)")
leader = n.status.leader.get_leader()
peers = n.status.peers.get_peers()
check(isinstance(leader, str) and ":" in leader, "leader is host:port", leader)
check(peers == [leader], "a dev agent's only peer is the leader", peers)

step("agent, regions, operator, metrics (api-docs/agent, regions, operator/raft, metrics)")
agent = n.agent.get_agent()
check(agent["config"]["Region"] == "global" and agent["member"]["Name"].endswith(".global"), "agent self", agent["member"])
members = n.agent.get_members()
check([m["Status"] for m in members["Members"]] == ["alive"], "one alive member", members)
check(n.agent.get_servers() == [leader], "the agent's servers are the leader", n.agent.get_servers())
check(n.regions.get_regions() == ["global"], "one region")
raft = n.operator.get_configuration()
check([(s["Leader"], s["Voter"], s["Address"]) for s in raft["Servers"]] == [(True, True, leader)], "raft configuration", raft)
gauges = {g["Name"] for g in n.metrics.get_metrics()["Gauges"]}
check("drover_raft_is_leader" in gauges, "metrics gauges", sorted(gauges)[:5])
check([ns["Name"] for ns in n.namespaces.get_namespaces()] == ["default"], "namespaces")

step("nodes: list, read, prefix, filter (api-docs/nodes)")
nodes = until("the dev node is ready", n.nodes.get_nodes, lambda l: len(l) == 1 and l[0]["Status"] == "ready")
node_id = nodes[0]["ID"]
check(node_id in n.nodes, "python-nomad's `in` finds the node")
node = n.node.get_node(node_id)
check(node["Drivers"]["raw_exec"]["Healthy"] is True, "raw_exec is healthy", node["Drivers"].get("raw_exec"))
check(node["SchedulingEligibility"] == "eligible", "the node is eligible", node["SchedulingEligibility"])
check([x["ID"] for x in n.nodes.get_nodes(prefix=node_id[:4])] == [node_id], "prefix selects the node")
check(n.nodes.get_nodes(filter_='Status == "down"') == [], "a filter that matches nothing")
refused(URLNotFoundNomadException, lambda: n.node.get_node("00000000-0000-0000-0000-000000000000"), "not found")

step("node eligibility round trip")
answer = n.node.eligible_node(node_id, ineligible=True)
check("EvalIDs" in answer and answer["NodeModifyIndex"] > 0, "eligibility answers a NodeUpdateResponse", answer)
check(n.node.get_node(node_id)["SchedulingEligibility"] == "ineligible", "node is ineligible")
n.node.eligible_node(node_id, eligible=True)
check(n.node.get_node(node_id)["SchedulingEligibility"] == "eligible", "node is eligible again")

step("register and wait for the allocation")
reg = n.jobs.register_job(JOB)
eval_id = reg["EvalID"]


def allocs():
    return n.job.get_allocations(JOB_ID)


running = until("one running allocation", allocs, lambda l: len(l) == 1 and l[0]["ClientStatus"] == "running")
alloc_id = running[0]["ID"]

step("allocations: list, prefix, read (api-docs/allocations)")
check(alloc_id in [a["ID"] for a in n.allocations.get_allocations()], "the list has the allocation")
check([a["ID"] for a in n.allocations.get_allocations(prefix=alloc_id[:6])] == [alloc_id], "prefix selects it")
alloc = n.allocation.get_allocation(alloc_id)
check((alloc["JobID"], alloc["NodeID"], alloc["EvalID"]) == (JOB_ID, node_id, eval_id), "the allocation's job, node, eval", alloc)
check(alloc["Job"]["ID"] == JOB_ID, "a read allocation embeds its job")
check(alloc_id in [a["ID"] for a in n.node.get_allocations(node_id)], "the node lists the allocation")

step("evaluations: list, read, its allocations (api-docs/evaluations)")
check(eval_id in [e["ID"] for e in n.evaluations.get_evaluations()], "the list has the registration's eval")
ev = n.evaluation.get_evaluation(eval_id)
check((ev["JobID"], ev["TriggeredBy"], ev["Status"]) == (JOB_ID, "job-register", "complete"), "the eval", ev)
check([a["ID"] for a in n.evaluation.get_allocations(eval_id)] == [alloc_id], "the eval placed the allocation")

step("client fs: ls, stat, cat, readat, logs (api-docs/client)")
names = sorted(f["Name"] for f in n.client.ls.list_files(alloc_id, "/"))
check(names == ["alloc", "t"], "the allocation directory holds alloc/ and the task's", names)
until("the task wrote its file", lambda: [f["Name"] for f in n.client.ls.list_files(alloc_id, "t/local")], lambda l: "file.txt" in l)
st = n.client.stat.stat_file(alloc_id, "t/local/file.txt")
check((st["Name"], st["Size"], st["IsDir"]) == ("file.txt", 5, False), "stat of the task's file", st)
check(n.client.cat.read_file(alloc_id, "t/local/file.txt") == "data\n", "cat reads the file")
check(n.client.read_at.read_file_offset(alloc_id, 1, 3, "t/local/file.txt") == "ata", "readat reads a range")
plain = n.client.stream_logs.stream(alloc_id, "t", "stdout", plain=True)
check(plain.startswith("started\n"), "plain logs start with the task's first line", plain)
framed = n.client.stream_logs.stream(alloc_id, "t", "stdout")
frames = [json.loads(x) for x in framed.replace("}{", "}\n{").splitlines() if x.strip()]
data = b"".join(base64.b64decode(f.get("Data", "")) for f in frames)
check(data.startswith(b"started\n"), "framed logs carry base64 Data", frames[:2])
refused(URLNotFoundNomadException, lambda: n.client.cat.read_file("00000000-0000-0000-0000-000000000000", "/"), "nknown allocation")
stats = n.client.allocation.read_allocation_stats(alloc_id)
check("t" in stats["Tasks"] and "ResourceUsage" in stats, "allocation stats per task", list(stats))

step("alloc signal: the task's trap runs, a Signaling event")
n.client.allocation.signal_allocation(alloc_id, "SIGUSR1", task="t")
until("the trap's output", lambda: n.client.stream_logs.stream(alloc_id, "t", "stdout", plain=True), lambda s: "got USR1" in s)


def task_events():
    return [e["Type"] for e in n.allocation.get_allocation(alloc_id)["TaskStates"]["t"]["Events"]]


until("a Signaling event", task_events, lambda t: "Signaling" in t)

step("alloc restart: Restart Signaled, running again in the same allocation")
n.client.allocation.restart_allocation(alloc_id)
until("a Restart Signaled event", task_events, lambda t: "Restart Signaled" in t)
until(
    "the task started again",
    lambda: n.allocation.get_allocation(alloc_id)["TaskStates"]["t"],
    lambda s: s["State"] == "running" and [e["Type"] for e in s["Events"]].count("Started") == 2,
)
check(len(allocs()) == 1, "a restart keeps the allocation")

step("event stream: the job's registration, replayed from index 0 (api-docs/events)")
events = queue.Queue()
stream, stop_stream, events = n.event.stream.get_stream(index=0, topic="Job:" + JOB_ID, event_queue=events, timeout=30)
stream.daemon = True
stream.start()
seen = []
try:
    while not any(e["Type"] == "JobRegistered" for e in seen):
        batch = events.get(timeout=30)
        check(batch["Index"] > 0 and batch["Events"], "a batch has an index and events", batch)
        seen.extend(batch["Events"])
finally:
    stop_stream.set()
check(all(e["Topic"] == "Job" and e["Key"] == JOB_ID for e in seen), "only the job's events", seen[:3])
registered = next(e for e in seen if e["Type"] == "JobRegistered")
check(registered["Payload"]["Job"]["ID"] == JOB_ID, "the event carries the job")

step("alloc stop: stopped, and replaced (api-docs/allocations, Stop Allocation)")
stopped = n.allocation.stop_allocation(alloc_id)
check(stopped["EvalID"] != "" and stopped["Index"] > 0, "stop answers an EvalID and Index", stopped)
until("the allocation stopped", lambda: n.allocation.get_allocation(alloc_id), lambda a: a["DesiredStatus"] == "stop" and a["ClientStatus"] == "complete")
replacement = until(
    "a replacement running",
    allocs,
    lambda l: any(a["ID"] != alloc_id and a["ClientStatus"] == "running" for a in l),
)
check(len(replacement) == 2, "the stopped allocation and its replacement", [a["ID"] for a in replacement])

step("search and gc (api-docs/search, system)")
found = n.search.search(JOB_ID[:6], "jobs")
check(found["Matches"]["jobs"] == [JOB_ID], "prefix search finds the job", found)
fuzzy = n.search.fuzzy_search("reads", "jobs")
check([m["ID"] for m in fuzzy["Matches"]["jobs"]] == [JOB_ID], "fuzzy search finds the job", fuzzy)
n.system.initiate_garbage_collection()
# Nomad's core_sched.go evalGC: the stopped allocation's evaluation is
# terminal and so is every allocation it placed, so both go; the
# replacement runs on.
left = until("the stopped allocation collected", allocs, lambda l: alloc_id not in [a["ID"] for a in l])
check([a["ClientStatus"] for a in left] == ["running"], "the replacement is kept", left)
refused(URLNotFoundNomadException, lambda: n.allocation.get_allocation(alloc_id), "alloc not found")

step("purge")
n.job.deregister_job(JOB_ID, purge=True)
until("the job is gone", lambda: [j["ID"] for j in n.jobs.get_jobs()], lambda l: JOB_ID not in l)
print("OK", flush=True)
