"""Shared helpers of the compatibility scripts.

Each script drives a running agent (NOMAD_ADDR) with python-nomad, the
client a Nomad user has, and exits non-zero on the first broken
expectation. Waits poll a condition against a deadline; nothing sleeps and
hopes.
"""

import os
import sys
import time

import nomad
from nomad.api import exceptions

DEADLINE_SECONDS = 30


def client():
    """A python-nomad client for the agent under test."""
    return nomad.Nomad(address=os.environ["NOMAD_ADDR"], timeout=10)


def step(what):
    print(f"--- {what}", flush=True)


def check(cond, what, got=None):
    if not cond:
        sys.exit(f"FAILED: {what}" + ("" if got is None else f": got {got!r}"))


def until(what, probe, pred):
    """Call probe() until pred(value) holds; the value, or exit at the deadline."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        value = probe()
        if pred(value):
            return value
        if time.monotonic() > deadline:
            sys.exit(f"FAILED: timed out after {DEADLINE_SECONDS}s waiting for {what}: {value!r}")
        time.sleep(0.05)


def refused(exc_type, call, needle):
    """call() must raise exc_type with a body that contains needle; the body."""
    try:
        got = call()
    except exc_type as e:
        text = e.nomad_resp.text
        check(needle in text, f"error body says {needle!r}", text)
        return text
    except exceptions.BaseNomadException as e:
        sys.exit(f"FAILED: expected {exc_type.__name__} saying {needle!r}, got {e}")
    sys.exit(f"FAILED: expected {exc_type.__name__} saying {needle!r}, got success {got!r}")
