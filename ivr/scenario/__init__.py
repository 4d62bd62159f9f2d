"""Scenario tests for admins: scripted real calls into the running hotline.

A scenario file (YAML) says whom to call and what the caller expects to hear, which keys
to press, and where the call should end up; ``hotline scenario run FILE...`` places the
call and prints PASS, or FAIL naming the step that failed and why.

- ``script``: the file format, checked with file:line: key: problem errors
- ``runner``: the step engine, against any ``ScenarioCall`` (``call``)
- ``live``: real calls over the PBX's ARI, the controller's timeline from its database
- ``hearing``: was this prompt heard, and where
- ``suite``: many files, one after another, and the exit code (``run_scenarios``)

The package imports nothing itself, so ``hearing`` stays cheap to import (the test harness
uses it) and the ARI and database code loads only for real calls.
"""
