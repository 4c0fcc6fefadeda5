"""What crosses the Temporal boundary: workflow inputs, activity arguments and results.

Every model here lands in workflow history, so none carries a secret: credentials travel as
Secret *references* (name, key) and are read only inside activities and pods.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

from gastown.api.convoy import BeadPhase, ConvoyPhase, FailurePolicy
from gastown.api.polecat import AgentType, Outcome, PolecatPhase


class Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SecretKey(Message):
    name: str
    key: str


class PolecatInput(Message):
    """Which polecat to run: its identity, never its spec.

    The Polecat CR is the one way in: `kubectl gt sling` and `kubectl apply` both create it
    with the user's own credentials (RBAC, schema, CEL rules and admission apply), and the
    activities read the spec from it. The UID pins the object: a workflow started for a
    deleted polecat cannot act on a new one that reuses its name, and someone who can reach
    Temporal but may not create Polecats cannot make the worker run anything.
    """

    namespace: str
    name: str
    uid: str


class Resolved(Message):
    """A polecat's spec merged with its rig's defaults: everything the pod is built from."""

    namespace: str
    name: str
    uid: str = ""
    # The rig's maxPolecats when the spec was read, and whether the CR asks to work a bead
    # that another polecat already works (`sling --force`).
    max_polecats: int = 8
    allow_same_bead: bool = False
    rig: str
    bead_id: str
    convoy: str | None = None
    repo_url: str
    base_branch: str
    work_branch: str
    image: str
    agent: str
    model: str | None = None
    max_turns: int | None = None
    agent_args: list[str] = Field(default_factory=list)
    agent_command: list[str] = Field(default_factory=list)
    agent_env: list[dict[str, Any]] = Field(default_factory=list)
    resources: dict[str, Any] | None = None
    has_task: bool = False
    git_secret: str | None = None
    claude_creds_secret: str | None = None
    api_key_secret: SecretKey | None = None
    forge_token_secret: SecretKey | None = None
    known_hosts_configmap: str | None = None
    run_as_user: int | None = None
    active_deadline_seconds: int
    pending_timeout_seconds: int
    image_pull_grace_seconds: int
    max_idle_seconds: int | None = None
    max_attempts: int
    backoff_seconds: int
    succeeded_pod_ttl_seconds: int
    failed_pod_ttl_seconds: int
    credentials_wait_seconds: int = 86400
    # The pods' ServiceAccount, from the worker's defaults when resolved; None (and in the
    # history of runs resolved before it existed): the namespace's default.
    service_account: str | None = None
    # agentConfig.modelProvider.endpoint: the agent's ANTHROPIC_BASE_URL (None: Anthropic's).
    model_endpoint: str | None = None
    # The operator's runtime image (the worker's --image) that runs git-init and publish,
    # the containers holding the git and forge Secrets: never the polecat's or rig's image.
    # None (the history of runs resolved before it existed): `image`.
    runtime_image: str | None = None


class CredentialReport(Message):
    """What the credential check learned, minus the credentials."""

    kind: str  # oauth | api-key | oauth-token
    expires_at: datetime | None = None


class PolecatRef(Message):
    namespace: str
    name: str
    uid: str


class TokenGrantKind(StrEnum):
    READY = "ready"  # the polecat's own Secret holds a token valid long enough (or none needed)
    REFRESH = "refresh"  # keeper mode, not fresh enough: ask the keeper, wait for its answer
    PARK = "park"  # nothing fresh to be had: wait until the credentials Secret changes


class TokenRequest(Message):
    """issue_pod_token: give this polecat's pods a token valid for `valid_for_seconds`.
    `rejected_version`: the credentials Secret's resourceVersion whose token a pod found
    expired (outcome auth_expired), so the same token is not handed out again."""

    resolved: Resolved
    polecat: PolecatRef
    valid_for_seconds: int
    rejected_version: str | None = None


class TokenGrant(Message):
    """What issue_pod_token decided, minus any token: the Secret's version and expiry only."""

    kind: TokenGrantKind
    secret: str | None = None  # the credentials Secret (None: the polecat needs none)
    version: str | None = None  # its resourceVersion as read
    credential_kind: str | None = None  # gastown.api.auth.CredentialKind
    expires_at: datetime | None = None
    reason: str = ""  # for PARK: CredentialsExpired, RefreshRejected, …
    message: str = ""  # for PARK: what is wrong and the next step


class CredentialsWanted(Message):
    """A polecat asks a credentials Secret's workflow to be told when it can go on: after a
    refresh (`refresh`, keeper mode) or when the Secret is no longer at `seen_version`."""

    workflow_id: str
    seen_version: str | None = None
    refresh: bool = False
    valid_until: datetime | None = None
    rejected_version: str | None = None


class CredentialsAsk(Message):
    """ask_credentials: signal-with-start of `credentials/<namespace>/<secret>`."""

    namespace: str
    secret: str
    wanted: CredentialsWanted


class CredentialsChanged(Message):
    """The credentials workflow's answer to a waiting polecat: look again. A failed refresh
    says why (reason, message: never a token)."""

    version: str | None = None
    refreshed: bool = False
    reason: str = ""
    message: str = ""


class SecretChanged(Message):
    """The watcher saw a credentials Secret at a new resourceVersion."""

    version: str


class CredentialsInput(Message):
    """CredentialsWorkflow's input: the Secret it answers for, and what a continue-as-new
    carries (the polecats still waiting, the last version it saw, and the keeper's memory of
    failures: the version whose session is dead, when to try again after another failure and
    what waiters hear until then, its last refresh of its own). New fields go at the end, with
    defaults, so inputs already in histories still load."""

    namespace: str
    secret: str
    waiters: list[CredentialsWanted] = Field(default_factory=list)
    last_version: str | None = None
    rejected_version: str | None = None
    retry_at: datetime | None = None
    failure: CredentialsChanged | None = None
    attempted: datetime | None = None


class RefreshRequest(Message):
    """refresh_session: make the session valid until `valid_until`; refresh anyway when the
    Secret is still at `rejected_version` (a pod found that token refused)."""

    namespace: str
    secret: str
    valid_until: datetime
    rejected_version: str | None = None


class RefreshResult(Message):
    refreshed: bool  # a request went to the token endpoint and its answer is stored
    version: str  # the Secret's resourceVersion afterwards
    mode: str  # gastown.api.auth.AuthMode
    expires_at: datetime | None = None


class EnsureRequest(Message):
    """`trace_id`: the run's trace (workflows/tracing.py), recorded on the CR; None untraced
    (and for runs that started before it existed)."""

    resolved: Resolved
    workflow_id: str
    run_id: str
    trace_id: str | None = None

    @model_serializer(mode="wrap")
    def _omit_no_trace(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """No `trace_id` key when untraced: a worker from before the field (extra="forbid")
        still accepts the request during a rolling upgrade. Replay is unaffected: an
        activity's input is not compared on replay, and a recorded null still parses."""
        data: dict[str, Any] = handler(self)
        if self.trace_id is None:
            data.pop("trace_id", None)
        return data


class LaunchRequest(Message):
    """`pod_auth_secret`: the polecat's own token Secret, written by the credentials gate; None
    for a workflow that started before the gate (it writes none: its pods mount the user's
    credentials Secret, as they always did)."""

    resolved: Resolved
    polecat: PolecatRef
    attempt: int
    workflow_id: str
    run_id: str
    pod_auth_secret: str | None = None


class PodRef(Message):
    namespace: str
    name: str
    uid: str
    attempt: int


class WaitRequest(Message):
    pod: PodRef
    polecat: str
    pending_timeout_seconds: int
    image_pull_grace_seconds: int


class Verdict(StrEnum):
    """How an attempt ended, as far as Kubernetes can tell."""

    FINISHED = "finished"  # the pod ran to completion (Succeeded or Failed); see the result
    TERMINAL = "terminal"  # will fail the same way again: do not retry
    TRANSIENT = "transient"  # the environment failed: a new attempt pod may succeed


class PodObservation(Message):
    """One observed change of the pod; signalled to the workflow as it happens."""

    pod: str
    attempt: int
    phase: str
    reason: str | None = None
    message: str | None = None
    ready: bool = False


class AttemptResult(Message):
    verdict: Verdict
    reason: str
    message: str = ""
    exit_code: int | None = None
    # The runtime's JSON result from the termination message, parsed by the activity.
    outcome: Outcome | None = None
    branch: str | None = None
    base_commit: str | None = None
    head_commit: str | None = None
    commits: int | None = None
    pushed: bool | None = None
    pull_request_url: str | None = None
    agent_turns: int | None = None
    agent_cost_usd: float | None = None
    error_class: str | None = None
    # The pod's own times (its containers' first startedAt and last finishedAt), for the
    # sling → pod and pod run histograms; None in results recorded before them.
    pod_started_at: datetime | None = None
    pod_finished_at: datetime | None = None


class StatusUpdate(Message):
    """A patch of the workflow-owned part of Polecat status."""

    namespace: str
    name: str
    phase: PolecatPhase
    reason: str
    message: str = ""
    workflow_id: str | None = None
    run_id: str | None = None
    pod_name: str | None = None
    attempt: int | None = None
    outcome: Outcome | None = None
    branch: str | None = None
    commit: str | None = None
    pull_request_url: str | None = None
    agent_cost_usd: float | None = None
    started: bool = False
    finished: bool = False
    event_type: str | None = None  # Normal | Warning: also emit a Kubernetes Event


class DeletePod(Message):
    namespace: str
    name: str
    uid: str | None = None
    grace_seconds: int | None = None


class SlotRequest(Message):
    """A polecat asks its rig's RigSlotsWorkflow for one of `limit` slots."""

    rig: str
    workflow_id: str
    run_id: str
    polecat: str  # <namespace>/<name>, for the answers people read
    bead_id: str
    limit: int
    allow_same_bead: bool = False


class SlotRelease(Message):
    rig: str
    workflow_id: str
    run_id: str | None = None


class SlotAnswerKind(StrEnum):
    GRANTED = "granted"
    QUEUED = "queued"
    REFUSED = "refused"


class SlotAnswer(Message):
    """The rig's answer, signalled back to the polecat's workflow."""

    kind: SlotAnswerKind
    reason: str = ""
    message: str = ""
    position: int = 0  # 1 = next in line (queued only)


class SlotHolder(Message):
    workflow_id: str
    run_id: str
    polecat: str
    bead_id: str


class SlotsState(Message):
    """What a rig's slots workflow holds; carried across continue-as-new, and its query."""

    rig: str
    limit: int = 0
    holders: list[SlotHolder] = Field(default_factory=list)
    waiting: list[SlotRequest] = Field(default_factory=list)
    # Requests one run takes before it continues as new: a long history slows every replay.
    requests_per_run: int = 1000


class NukeRequest(Message):
    reason: str = "nuked by user"


class PolecatState(Message):
    """What the `status` query returns: the workflow's own view, no cluster round trip."""

    phase: PolecatPhase
    attempt: int = 0
    pod: str | None = None
    pod_phase: str | None = None
    reason: str | None = None
    message: str | None = None
    outcome: Outcome | None = None
    branch: str | None = None
    pull_request_url: str | None = None


class PolecatResult(Message):
    phase: PolecatPhase
    outcome: Outcome | None
    reason: str
    message: str = ""
    attempts: int
    pod: str | None = None
    branch: str | None = None
    commit: str | None = None
    pull_request_url: str | None = None
    agent_cost_usd: float | None = None


class PodDeletion(Message):
    """When the watcher may delete a finished polecat's pod: its TTL, as an annotation on the
    pod (identity.ANNOTATION_DELETE_AFTER), so no workflow stays open for it."""

    namespace: str
    name: str
    uid: str
    ttl_seconds: int


# ---------------------------------------------------------------------------- convoys


class ConvoyBead(Message):
    """The convoy workflow's record of one bead; carried across continue-as-new."""

    bead_id: str
    phase: BeadPhase = BeadPhase.PENDING
    polecat: str | None = None
    workflow_id: str | None = None  # the current polecat's workflow
    polecat_phase: PolecatPhase | None = None
    attempts: int = 0  # polecats dispatched for this bead
    outcome: Outcome | None = None
    reason: str | None = None
    message: str | None = None
    branch: str | None = None
    pull_request_url: str | None = None
    cost_usd: float | None = None  # summed over its polecats


class ConvoyCarry(Message):
    """What a convoy's next run needs from its previous one (continue-as-new)."""

    beads: list[ConvoyBead]
    cost_usd: float = 0.0
    stop_reason: str | None = None  # set: dispatch nothing new (cancel, Stop policy, cost cap)
    stop_message: str | None = None
    cancelled: bool = False
    started_at: datetime | None = None
    runs: int = 1


class ConvoyInput(Message):
    """Which convoy to run: its identity, never its spec (as for polecats: the activities read
    the beads from the CR). `carried` is set only by continue-as-new."""

    namespace: str
    name: str
    uid: str
    carried: ConvoyCarry | None = None
    # Polecats one run dispatches before it continues as new (the SDK may suggest it sooner):
    # each costs the history ~10 events. A field so tests can cross a continue-as-new cheaply.
    dispatches_per_run: int = Field(default=200, ge=1)


class ResolvedConvoy(Message):
    """A Convoy's spec as read from the CR, with its rig's limit: what the workflow needs.
    The notify URL is not here (it may carry a token): notify_convoy reads it itself."""

    namespace: str
    name: str
    uid: str
    description: str
    rig: str
    beads: list[str]
    parallelism: int  # as in the spec; 0: the rig's limit
    max_polecats: int  # the rig's maxPolecats when read
    failure_policy: FailurePolicy = FailurePolicy.CONTINUE
    max_retries: int = 0
    max_cost_usd: float | None = None
    agent: AgentType = AgentType.CLAUDE_CODE
    notify: bool = False  # spec.notifyOnComplete is set

    @property
    def window(self) -> int:
        """Polecats dispatched and unfinished at once."""
        return self.parallelism or self.max_polecats


class DispatchRequest(Message):
    """Create (or find) the Polecat CR for one bead of a convoy: the convoy's polecats enter
    the way every polecat does."""

    namespace: str
    convoy: str
    convoy_uid: str
    rig: str
    bead_id: str
    retry: int = 0  # 0 for the first polecat of the bead
    agent: AgentType = AgentType.CLAUDE_CODE


class PolecatReport(Message):
    """A convoy's polecat tells its convoy (by signal, to the convoy's workflow ID, so it
    reaches the current run after a continue-as-new) where it stands: Queued, Working, or how
    it ended."""

    workflow_id: str
    polecat: str
    bead_id: str
    phase: PolecatPhase
    outcome: Outcome | None = None
    reason: str | None = None
    message: str | None = None
    branch: str | None = None
    pull_request_url: str | None = None
    agent_cost_usd: float | None = None
    attempts: int = 0


class ConvoyCounts(Message):
    total: int = 0
    done: int = 0
    running: int = 0
    queued: int = 0
    pending: int = 0
    failed: int = 0
    skipped: int = 0
    waiting: int = 0  # of the running, parked for credentials (WaitingForCredentials)


class ConvoyProgress(Message):
    """The `progress` query's answer and what the CR's status is written from."""

    phase: ConvoyPhase
    counts: ConvoyCounts
    cost_usd: float = 0.0
    reason: str | None = None
    message: str | None = None
    beads: list[ConvoyBead] = Field(default_factory=list)


class ConvoyStatusUpdate(Message):
    namespace: str
    name: str
    uid: str
    workflow_id: str
    progress: ConvoyProgress
    started_at: datetime | None = None
    finished: bool = False
    event_type: str | None = None  # Normal | Warning: also emit a Kubernetes Event


class AddBeads(Message):
    """`convoy add`: beads already written to the CR's spec; the workflow re-reads the CR and
    takes only those it finds there."""

    beads: list[str]


class CancelConvoy(Message):
    nuke: bool = False  # also nuke the polecats at work
    reason: str = "cancelled by user"


class NukePolecats(Message):
    workflow_ids: list[str]
    reason: str


class ConvoyNotice(Message):
    """notify_convoy's argument: the summary to send; the URL is read from the CR."""

    namespace: str
    name: str
    uid: str
    description: str
    progress: ConvoyProgress


# ---------------------------------------------------------------------------- auth-keeper


class CredentialsRef(Message):
    """A credentials Secret, by namespace and name (secret_version's argument)."""

    namespace: str
    secret: str


class SecretLook(Message):
    """secret_version's answer: what the keeper may know of its Secret, never its data.
    `version` None: the Secret does not exist. `refresh_margin_seconds`: how long before the
    expiry a keeper refreshes (the worker's setting, so a run learns it deterministically)."""

    version: str | None = None
    mode: str = "replica"  # gastown.api.auth.AuthMode
    expires_at: datetime | None = None
    refreshed_at: datetime | None = None
    refresh_margin_seconds: int = 600


class RefreshOrder(Message):
    """CredentialsWorkflow's `refresh` Update (`auth refresh`, tests): make the session valid
    for `valid_for_seconds`; `force` refreshes even a fresh session (the Secret's version the
    keeper knows is treated as rejected)."""

    valid_for_seconds: int = 0
    force: bool = True


class CredentialsState(Message):
    """CredentialsWorkflow's `credentials` query: what `auth status` shows, never a token."""

    namespace: str
    secret: str
    mode: str | None = None  # None: not looked at yet
    version: str | None = None
    expires_at: datetime | None = None
    last_refresh: datetime | None = None
    refreshing: bool = False
    rejected_version: str | None = None  # the token endpoint refused the session at this one
    waiting: list[str] = Field(default_factory=list)  # the waiting workflows' IDs
