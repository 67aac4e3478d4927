"""nomadpy, a port of Nomad's Go `api` package to Python, against Drover:
its typed models decode Drover's answers, and its query metadata reads
Drover's headers. Status, nodes, a job's allocations and evaluations, a
blocking query, allocation files and logs, exec over the WebSocket,
signal, restart, stop, and the event stream.
"""

import io
import sys
import time
from datetime import timedelta

import nomadpy
from nomadpy import QueryOptions

from compat import check, step, until

JOB_ID = "compat-nomadpy"
JOB = {
    "ID": JOB_ID,
    "TaskGroups": [
        {
            "Name": "g",
            "Tasks": [
                {
                    "Name": "t",
                    "Driver": "raw_exec",
                    "Config": {
                        "command": "/bin/sh",
                        "args": ["-c", "trap 'echo hup' HUP; echo ready; while true; do sleep 0.2; done"],
                    },
                    "Resources": {"CPU": 50, "MemoryMB": 32},
                }
            ],
        }
    ],
}

c = nomadpy.Client()  # NOMAD_ADDR, as Nomad's CLI reads it

step("status and nodes, typed")
leader = c.status.leader()
check(c.status.peers() == [leader], "the peers are the leader", c.status.peers())
nodes, meta = c.nodes.list()
check(len(nodes) == 1 and nodes[0].status == "ready", "one ready node", nodes)
check(meta.last_index > 0 and meta.known_leader, "query meta from Drover's headers", meta)
node, _ = c.nodes.info(nodes[0].id)
check(node.drivers["raw_exec"].healthy, "raw_exec healthy in the typed node", node.drivers.get("raw_exec"))

step("register; a blocking query on the job's allocations wakes for the placement")
_, before = c.jobs.allocations(JOB_ID)
reg, wm = c.jobs.register(JOB)
check(reg.eval_id != "" and wm.last_index > 0, "register answers an eval and index", reg)
started = time.monotonic()
allocs, meta = c.jobs.allocations(
    JOB_ID, q=QueryOptions(wait_index=before.last_index, wait_time=timedelta(seconds=20))
)
check(time.monotonic() - started < 15, "the blocking query woke before its wait", time.monotonic() - started)
check(meta.last_index > before.last_index, "the index moved", (before.last_index, meta.last_index))


def allocs_now():
    return c.jobs.allocations(JOB_ID)[0]


allocs = until("running", allocs_now, lambda l: len(l) == 1 and l[0].client_status == "running")
alloc_id = allocs[0].id
alloc, _ = c.allocations.info(alloc_id)
check(alloc.job.id == JOB_ID and alloc.task_states["t"].state == "running", "typed allocation", alloc.task_states)
evals, _ = c.jobs.evaluations(JOB_ID)
mine = [e for e in evals if e.id == reg.eval_id]
check(len(mine) == 1 and mine[0].status == "complete" and mine[0].triggered_by == "job-register", "the job's evaluation", evals)
summary, _ = c.jobs.summary(JOB_ID)
check(summary.summary["g"].running == 1, "the summary counts it", summary.summary)

step("allocation files and logs")
files, _ = c.alloc_fs.list(alloc_id, "/")
check(sorted(f.name for f in files) == ["alloc", "t"], "ls", files)
until("the first log line", lambda: c.alloc_fs.cat(alloc_id, "alloc/logs/t.stdout.0"), lambda b: b.startswith(b"ready\n"))
logs = b"".join(f.data_bytes for f in c.alloc_fs.logs(alloc_id, False, "t", "stdout", "start", 0))
check(logs.startswith(b"ready\n"), "framed logs decode", logs)

step("exec over the WebSocket: output and exit code")
out, err = io.BytesIO(), io.BytesIO()
code = c.allocations.exec(alloc_id, "t", ["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], stdout=out, stderr=err, timeout=20)
check((code, out.getvalue(), err.getvalue()) == (3, b"out\n", b"err\n"), "exec", (code, out.getvalue(), err.getvalue()))

step("signal and restart")
c.allocations.signal(alloc_id, "t", "SIGHUP")
until("the trap ran", lambda: c.alloc_fs.cat(alloc_id, "alloc/logs/t.stdout.0"), lambda b: b"hup" in b)
c.allocations.restart(alloc_id, "t")
until(
    "restarted in place",
    lambda: c.allocations.info(alloc_id)[0].task_states["t"],
    lambda s: s.state == "running" and [e.type for e in s.events].count("Started") == 2,
)

step("event stream: the job's registration, typed")
batches = c.event_stream.stream({"Job": [JOB_ID]}, index=0, timeout=20)
try:
    found = None
    for batch in batches:
        for event in batch.events:
            if event.type == "JobRegistered":
                found = event
                break
        if found:
            break
finally:
    batches.close()
check(found.job().id == JOB_ID and found.index > 0, "the event decodes to the job", found)

step("stop and purge")
stop, _ = c.allocations.stop(alloc_id)
check(stop.eval_id != "", "stop answers an evaluation", stop)
until("stopped", lambda: c.allocations.info(alloc_id)[0], lambda a: a.desired_status == "stop")
c.jobs.deregister(JOB_ID, purge=True)
until("purged", lambda: [j.id for j in c.jobs.list()[0]], lambda l: JOB_ID not in l)
print("OK", flush=True)
sys.exit(0)
