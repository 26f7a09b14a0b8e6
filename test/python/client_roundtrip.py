"""Submits a job with the generated Python client, follows it and reads its logs.

Usage: python client_roundtrip.py URL TOKEN   (gantry_client on PYTHONPATH)
Prints one JSON line: the job id, its final state and its log.
"""
import json
import sys
import time

from gantry_client import AuthenticatedClient
from gantry_client.api.jobs import get_job, get_job_logs, submit_job
from gantry_client.models import Job, JobSpec

url, token = sys.argv[1], sys.argv[2]
client = AuthenticatedClient(base_url=url, token=token, raise_on_unexpected_status=True)
spec = JobSpec.from_dict({"name": "py-client", "command": "echo hello from python; sleep 1; echo done"})
job = submit_job.sync(client=client, body=spec)
assert isinstance(job, Job), job
log, offset, deadline = "", 0, time.time() + 60
while time.time() < deadline:
    r = get_job_logs.sync_detailed(job.id, client=client, offset=offset)
    assert r.status_code == 200, r
    log += r.content.decode()
    offset = int(r.headers["x-next-offset"])
    if r.headers["x-job-finished"] == "true":
        break
    time.sleep(0.2)
final = get_job.sync(job.id, client=client)
assert isinstance(final, Job), final
print(json.dumps({"id": job.id, "state": str(final.state.value if hasattr(final.state, "value") else final.state), "log": log}))
