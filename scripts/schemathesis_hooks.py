"""Schemathesis hooks for scripts/schemathesis.sh.

The run acts as the site's owner through one API key. Two generated requests would end
that credential for the rest of the run, after which every operation answers 401 and tests
nothing: revoking the run's own key, and patching the owner itself (a new password or role
ends the user's sessions). Those two cases, and only those, are dropped; the same
operations on every other id are still sent.
"""

import os

import schemathesis

OWNER_USER_ID = os.environ["JEKCMS_ST_OWNER_USER_ID"]
OWNER_KEY_ID = os.environ["JEKCMS_ST_OWNER_KEY_ID"]


@schemathesis.hook
def filter_case(context, case):
    op = case.operation
    target = str((case.path_parameters or {}).get("id"))
    method = op.method.upper()
    if op.path == "/api/v2/users/{id}" and method in ("PATCH", "DELETE"):
        return target != OWNER_USER_ID
    if op.path == "/api/v2/api-keys/{id}" and method == "DELETE":
        return target != OWNER_KEY_ID
    return True
