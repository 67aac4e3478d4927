"""A job's lifecycle through python-nomad: parse, register with its source,
read, versions, scale (read and write), stable, revert, submission, purge.
"""

from compat import check, client, refused, step, until
from nomad.api.exceptions import BadRequestNomadException, URLNotFoundNomadException

JOB_ID = "compat-web"
HCL = """
job "compat-web" {
  datacenters = ["dc1"]
  group "g" {
    count = 1
    scaling {
      min = 1
      max = 3
    }
    update {
      min_healthy_time = "200ms"
      healthy_deadline = "1m"
    }
    task "t" {
      driver = "raw_exec"
      config {
        command = "/bin/sleep"
        args    = ["300"]
      }
    }
  }
}
"""

n = client()


def job():
    return n.job.get_job(JOB_ID)


def scale_status():
    return n.job.request(JOB_ID, "scale", method="get").json()


def group_status():
    return scale_status()["TaskGroups"]["g"]


step("parse keeps the scaling block")
parsed = n.jobs.parse(HCL)
scaling = parsed["TaskGroups"][0]["Scaling"]
check((scaling["Min"], scaling["Max"]) == (1, 3), "parsed Scaling bounds", scaling)

step("register with the source")
reg = n.jobs.register_job(
    {"Job": parsed, "Submission": {"Source": HCL, "Format": "hcl2", "VariableFlags": {"team": "a"}}}
)
check(reg["EvalID"] != "", "register answers an EvalID", reg)
check(job()["Version"] == 0, "first version is 0", job())

step("scale status: one running")
until("one allocation running", group_status, lambda g: g["Running"] == 1)
status = scale_status()
check(status["JobID"] == JOB_ID and status["JobStopped"] is False, "scale status names the job", status)

step("scale waits for the deployment (job scaling blocked due to active deployment)")
until(
    "the first deployment successful",
    lambda: n.job.get_deployment(JOB_ID),
    lambda d: d is not None and d["Status"] == "successful",
)

step("scale to 2")
resp = n.job.request(
    JOB_ID,
    "scale",
    json={"Count": 2, "Target": {"Job": JOB_ID, "Group": "g"}, "Message": "compat"},
    method="post",
).json()
check(resp["EvalID"] != "", "scale answers an EvalID", resp)
check(job()["Version"] == 1 and job()["TaskGroups"][0]["Count"] == 2, "scaled job is version 1 with count 2", job())
g = until("two allocations running", group_status, lambda g: g["Running"] == 2)
event = g["Events"][0]
check((event["Count"], event["PreviousCount"], event["EvalID"]) == (2, 1, resp["EvalID"]), "scaling event", event)

step("scale over the policy maximum is refused")
refused(
    BadRequestNomadException,
    lambda: n.job.request(
        JOB_ID, "scale", json={"Count": 9, "Target": {"Group": "g"}}, method="post"
    ),
    "greater than scaling policy maximum: 9 > 3",
)
check(job()["Version"] == 1, "a refused scale leaves the version", job())

step("scaling policies")
policies = n.scaling.get_scaling_policies(job=JOB_ID)
check(len(policies) == 1 and policies[0]["Target"]["Group"] == "g", "one policy for group g", policies)
policy = n.scaling.get_scaling_policy(policies[0]["ID"])
check((policy["Min"], policy["Max"]) == (1, 3), "the policy's bounds", policy)

step("versions")
versions = [v["Version"] for v in n.job.get_versions(JOB_ID)["Versions"]]
check(versions == [1, 0], "versions newest first", versions)

step("stable")
resp = n.job.stable_job(JOB_ID, 0, True)
check(resp["Index"] > 0, "stable answers an Index", resp)
flags = {v["Version"]: v["Stable"] for v in n.job.get_versions(JOB_ID)["Versions"]}
check(flags == {0: True, 1: False}, "version 0 stable", flags)
refused(BadRequestNomadException, lambda: n.job.stable_job(JOB_ID, 42, True), "version 42 not found")

step("revert to version 0")
refused(BadRequestNomadException, lambda: n.job.revert_job(JOB_ID, 1), "can't revert to current version")
refused(
    BadRequestNomadException,
    lambda: n.job.revert_job(JOB_ID, 0, enforce_prior_version=0),
    "Current job has version 1; enforcing version 0",
)
resp = n.job.revert_job(JOB_ID, 0, enforce_prior_version=1)
check(resp["EvalID"] != "", "revert answers an EvalID", resp)
current = job()
check(current["Version"] == 2 and current["TaskGroups"][0]["Count"] == 1, "reverted to count 1 as version 2", current)
until("back to one allocation", group_status, lambda g: g["Placed"] == 1)

step("submission")
sub = n.job.request(JOB_ID, "submission", params={"version": 0}, method="get").json()
check(sub["Source"] == HCL and sub["Format"] == "hcl2", "version 0's source", sub)
check(sub["VariableFlags"] == {"team": "a"}, "version 0's variable flags", sub)
refused(
    URLNotFoundNomadException,
    lambda: n.job.request(JOB_ID, "submission", params={"version": 2}, method="get"),
    "job source not found",
)

step("purge")
n.job.deregister_job(JOB_ID, purge=True)
refused(URLNotFoundNomadException, lambda: n.job.get_job(JOB_ID), "not found")
print("jobs_lifecycle: all checks passed")
