"""The names workflows and activities agree on, and how each activity may be retried.

Workflows refer to activities by name, never by import: activities import the Kubernetes
client, and workflow code must stay free of I/O so replay stays deterministic.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Final

from temporalio.common import RetryPolicy, SearchAttributeKey

# Workflow types, so clients (the CLI, the watcher) can start them without importing them.
POLECAT_WORKFLOW: Final = "PolecatWorkflow"
RIG_SLOTS_WORKFLOW: Final = "RigSlotsWorkflow"
CONVOY_WORKFLOW: Final = "ConvoyWorkflow"
CREDENTIALS_WORKFLOW: Final = "CredentialsWorkflow"

RESOLVE_POLECAT: Final = "resolve_polecat"
CHECK_CREDENTIALS: Final = "check_credentials"
ENSURE_POLECAT: Final = "ensure_polecat"
LAUNCH_POD: Final = "launch_pod"
WAIT_POD: Final = "wait_pod"
UPDATE_STATUS: Final = "update_polecat_status"
DELETE_POD: Final = "delete_pod"
REQUEST_SLOT: Final = "request_slot"
RELEASE_SLOT: Final = "release_slot"
CLOSED_WORKFLOWS: Final = "closed_workflows"
SCHEDULE_POD_DELETION: Final = "schedule_pod_deletion"
# ConvoyWorkflow's: read the CR and its rig; create a bead's Polecat CR; write the status;
# the closing Event and POST; nuke its running polecats; outcomes of polecats whose report
# never came (their workflows closed without one: terminated from the Temporal UI, say).
RESOLVE_CONVOY: Final = "resolve_convoy"
DISPATCH_POLECAT: Final = "dispatch_polecat"
UPDATE_CONVOY_STATUS: Final = "update_convoy_status"
NOTIFY_CONVOY: Final = "notify_convoy"
NUKE_POLECATS: Final = "nuke_polecats"
POLECAT_REPORTS: Final = "polecat_reports"

# Credentials (see gastown/api/auth.py). Before the slot and before each pod: issue_pod_token
# writes the polecat's own Secret with a token valid long enough, or answers refresh/park;
# ask_credentials signals (with start) the Secret's CredentialsWorkflow, which answers by
# signal when it refreshed or the Secret changed; revoke_pod_token deletes the polecat's
# Secret at the end. refresh_session is the keeper's one refresh (a regular activity).
ISSUE_POD_TOKEN: Final = "issue_pod_token"  # noqa: S105 - an activity's name
ASK_CREDENTIALS: Final = "ask_credentials"
REVOKE_POD_TOKEN: Final = "revoke_pod_token"  # noqa: S105 - an activity's name
REFRESH_SESSION: Final = "refresh_session"
# CredentialsWorkflow's messages: a polecat wants credentials; the watcher saw the Secret
# change; the answer to a polecat; `auth status`'s query; an on-request refresh.
SIGNAL_CREDENTIALS_WANTED: Final = "credentials_wanted"
SIGNAL_SECRET_CHANGED: Final = "secret_changed"  # noqa: S105 - a signal's name
SIGNAL_CREDENTIALS_CHANGED: Final = "credentials_changed"
QUERY_CREDENTIALS: Final = "credentials"
UPDATE_REFRESH: Final = "refresh"

SIGNAL_POD_OBSERVED: Final = "pod_observed"
QUERY_STATUS: Final = "status"
UPDATE_NUKE: Final = "nuke"
SIGNAL_SLOT_ANSWER: Final = "slot_answer"

# ConvoyWorkflow: its polecats report by signal; people ask by query and act by update.
SIGNAL_POLECAT_REPORT: Final = "polecat_report"
QUERY_PROGRESS: Final = "progress"
UPDATE_ADD_BEADS: Final = "add_beads"
UPDATE_CANCEL: Final = "cancel"

# RigSlotsWorkflow, one per rig: the only place a rig's maxPolecats and "this bead is already
# being worked" are decided, one message at a time, so two slings cannot both take a slot.
SIGNAL_ACQUIRE: Final = "acquire"
SIGNAL_RELEASE: Final = "release"
QUERY_SLOTS: Final = "slots"

# Error types an activity raises as non-retryable ApplicationErrors. Listing them in the retry
# policies too means a permanent error never burns retries even if raised carelessly.
RIG_NOT_FOUND: Final = "RigNotFound"
INVALID_SPEC: Final = "InvalidSpec"
MISSING_SECRET: Final = "MissingSecret"  # noqa: S105 - an error type, not a secret
CREDENTIALS_EXPIRED: Final = "CredentialsExpired"
NAME_CONFLICT: Final = "NameConflict"
POD_CONFLICT: Final = "PodConflict"
POLECAT_GONE: Final = "PolecatGone"
NAMESPACE_NOT_SERVED: Final = "NamespaceNotServed"
BEAD_ALREADY_WORKED: Final = "BeadAlreadyWorked"
CONVOY_GONE: Final = "ConvoyGone"
# Parked for credentials longer than the polecat may wait (default 24 h).
CREDENTIALS_UNAVAILABLE: Final = "CredentialsUnavailable"
# The token endpoint refused the refresh token (invalid_grant): only a new handover helps.
REFRESH_REJECTED: Final = "RefreshRejected"
# A refresh whose POST succeeded but whose store failed: the old refresh token is spent and the
# new one lost; like REFRESH_REJECTED, only a new handover helps (the version as detail).
SESSION_LOST: Final = "SessionLost"

PERMANENT: Final = [
    RIG_NOT_FOUND,
    INVALID_SPEC,
    MISSING_SECRET,
    CREDENTIALS_EXPIRED,
    NAME_CONFLICT,
    POD_CONFLICT,
    POLECAT_GONE,
    NAMESPACE_NOT_SERVED,
    BEAD_ALREADY_WORKED,
    CONVOY_GONE,
    REFRESH_REJECTED,
    SESSION_LOST,
]

# Kubernetes calls: quick, idempotent; retry API hiccups (5xx, 429, timeouts) with back-off.
API_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=10,
    non_retryable_error_types=PERMANENT,
)
API_TIMEOUT: Final = timedelta(seconds=60)

# The wait resumes from its last heartbeat, so retrying it is cheap and safe.
WAIT_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=20),
    maximum_attempts=50,
    non_retryable_error_types=PERMANENT,
)
WAIT_HEARTBEAT: Final = timedelta(seconds=30)

SA_RIG: Final = SearchAttributeKey.for_keyword("GastownRig")
SA_BEAD: Final = SearchAttributeKey.for_keyword("GastownBead")
SA_POLECAT: Final = SearchAttributeKey.for_keyword("GastownPolecat")
SA_CONVOY: Final = SearchAttributeKey.for_keyword("GastownConvoy")
SA_PHASE: Final = SearchAttributeKey.for_keyword("GastownPhase")
# A convoy's finished beads in percent (0-100): `GastownProgress < 100` finds unfinished ones.
SA_PROGRESS: Final = SearchAttributeKey.for_int("GastownProgress")
SEARCH_ATTRIBUTES: Final = (SA_RIG, SA_BEAD, SA_POLECAT, SA_CONVOY, SA_PHASE, SA_PROGRESS)

# auth-keeper
# CredentialsWorkflow's look at its Secret (version, mode, expiry; never data): the backstop
# against a lost watcher signal, and how a run learns the mode and when to refresh ahead.
SECRET_VERSION: Final = "secret_version"  # noqa: S105 - an activity's name
# refresh_session: the keeper's one POST may wait on the token endpoint; retried a few times
# (5xx, network), never after invalid_grant (REFRESH_REJECTED is permanent). The timeout leaves
# room for the POST (20 s) and the store's own retries (keeper.STORE_SECONDS, 60 s): after the
# POST nothing may time out, since a retry would POST the spent refresh token.
REFRESH_TIMEOUT: Final = timedelta(seconds=120)
REFRESH_RETRY: Final = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=60),
    maximum_attempts=6,
    non_retryable_error_types=PERMANENT,
)
