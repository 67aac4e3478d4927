"""Deployments, dispatch and periodic force through python-nomad.

A service job with manual health rolls out version 0, places a canary
for version 1 that is promoted, then fails version 2's canary by
marking it unhealthy (python-nomad spells the field
`UnHealthyAllocationIDs`, which Nomad's case-insensitive decoding takes),
so auto_revert brings version 1's spec back. A parameterized job is
dispatched with a payload and meta, and a periodic job is forced.
"""

import base64

from compat import check, client, refused, step, until
from nomad.api.exceptions import BadRequestNomadException

n = client()

WEB = "compat-deploy"


def web_hcl(version):
    return f"""
job "{WEB}" {{
  datacenters = ["dc1"]
  group "g" {{
    count = 2
    update {{
      max_parallel     = 1
      canary           = 1
      health_check     = "manual"
      auto_revert      = true
    }}
    task "t" {{
      driver = "raw_exec"
      env {{
        VERSION = "{version}"
      }}
      config {{
        command = "/bin/sleep"
        args    = ["300"]
      }}
    }}
  }}
}}
"""


def register(hcl):
    return n.jobs.register_job({"Job": n.jobs.parse(hcl)})


def latest():
    return n.job.get_deployment(WEB)


def deployment_of(version, what, pred=lambda d: True):
    return until(what, latest, lambda d: d and d["JobVersion"] == version and pred(d))


def live_allocs(dep_id):
    return [
        a
        for a in n.deployment.get_deployment_allocations(dep_id)
        if a["ClientStatus"] == "running" and a["DesiredStatus"] == "run"
    ]


def mark_running_healthy(dep_id, want):
    allocs = until(f"{want} running in {dep_id}", lambda: live_allocs(dep_id), lambda l: len(l) >= want)
    ids = [a["ID"] for a in allocs if not (a.get("DeploymentStatus") or {}).get("Healthy")]
    if ids:
        n.deployment.deployment_allocation_health(dep_id, healthy_allocations=ids)
    return allocs


step("version 0 rolls out with manual health")
register(web_hcl("0"))
d0 = deployment_of(0, "the first deployment")
mark_running_healthy(d0["ID"], 2)
deployment_of(0, "version 0 successful", lambda d: d["Status"] == "successful")
listed = [d["ID"] for d in n.deployments.get_deployments(prefix=d0["ID"][:8])]
check(listed == [d0["ID"]], "deployments by prefix", listed)

step("version 1: a canary, promoted")
register(web_hcl("1"))
d1 = deployment_of(1, "the canary deployment")
check(d1["TaskGroups"]["g"]["DesiredCanaries"] == 1, "one canary wanted", d1)
canary = mark_running_healthy(d1["ID"], 1)
check(canary[0]["DeploymentStatus"]["Canary"] is True, "the canary is flagged", canary[0])
deployment_of(1, "the canary healthy", lambda d: d["TaskGroups"]["g"]["HealthyAllocs"] == 1)
n.deployment.pause_deployment(d1["ID"], True)
deployment_of(1, "paused", lambda d: d["Status"] == "paused")
n.deployment.pause_deployment(d1["ID"], False)
deployment_of(1, "resumed", lambda d: d["Status"] == "running")
resp = n.deployment.promote_deployment_all(d1["ID"])
check(resp["DeploymentModifyIndex"] > 0, "promote answers the deployment's index", resp)


def roll(dep_id):
    mark_running_healthy(dep_id, 1)
    return latest()


until(
    "version 1 successful",
    lambda: roll(d1["ID"]),
    lambda d: d["JobVersion"] == 1 and d["Status"] == "successful",
)
check(n.job.get_job(WEB)["Stable"] is True, "version 1 stable")

step("version 2: its canary marked unhealthy, the job reverts")
register(web_hcl("2"))
d2 = deployment_of(2, "version 2's deployment")
bad = until("version 2's canary", lambda: live_allocs(d2["ID"]), lambda l: len(l) == 1)
n.deployment.deployment_allocation_health(d2["ID"], unhealthy_allocations=[bad[0]["ID"]])
failed = until(
    "version 2 failed",
    lambda: n.deployment.get_deployment(d2["ID"]),
    lambda d: d["Status"] == "failed",
)
check(
    failed["StatusDescription"] == "Failed due to unhealthy allocations - rolling back to job version 1",
    "the failure names the rollback",
    failed["StatusDescription"],
)
job = until("the revert registered", lambda: n.job.get_job(WEB), lambda j: j["Version"] == 3)
check(job["TaskGroups"][0]["Tasks"][0]["Env"]["VERSION"] == "1", "version 3 is version 1's spec", job)
refused(
    BadRequestNomadException,
    lambda: n.deployment.promote_deployment_all(d2["ID"]),
    "can't promote terminal deployment",
)
check(any(d["ID"] == d2["ID"] for d in n.job.get_deployments(WEB)), "the job lists its deployments")

step("dispatch a parameterized job")
n.jobs.register_job(
    {
        "Job": n.jobs.parse(
            """
job "compat-batch" {
  datacenters = ["dc1"]
  type = "batch"
  parameterized {
    payload       = "required"
    meta_required = ["customer"]
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      dispatch_payload {
        file = "input.txt"
      }
      config {
        command = "/bin/sh"
        args    = ["-c", "cat local/input.txt"]
      }
    }
  }
}
"""
        )
    }
)
payload = base64.b64encode(b"hello from python-nomad").decode()
out = n.job.dispatch_job("compat-batch", payload=payload, meta={"customer": "acme"})
child = out["DispatchedJobID"]
check(child.startswith("compat-batch/dispatch-"), "the child's ID", child)
got = n.job.get_job(child)
check(got["ParentID"] == "compat-batch" and got["Dispatched"] is True, "the child job", got)
check(got["Meta"]["customer"] == "acme", "the child's meta", got["Meta"])
refused(
    BadRequestNomadException,
    lambda: n.job.dispatch_job("compat-batch", payload=payload, meta={}),
    "customer",
)

step("force a periodic job")
n.jobs.register_job(
    {
        "Job": n.jobs.parse(
            """
job "compat-cron" {
  datacenters = ["dc1"]
  type = "batch"
  periodic {
    cron = "0 0 1 1 *"
  }
  group "g" {
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/true"
      }
    }
  }
}
"""
        )
    }
)
forced = n.job.periodic_job("compat-cron")
check(forced["EvalID"] != "", "force answers an EvalID", forced)
children = until(
    "a forced child",
    lambda: n.jobs.get_jobs(prefix="compat-cron/periodic-"),
    lambda l: len(l) == 1,
)
check(children[0]["ParentID"] == "compat-cron", "the child's parent", children[0])
print("deployments_dispatch: all checks passed")
