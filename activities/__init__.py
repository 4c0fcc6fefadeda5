"""Every side effect of the workflows, as idempotent Temporal activities."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gastown.activities.convoys import ConvoyActivities, nuke_polecats, polecat_reports
from gastown.activities.credentials import CredentialActivities
from gastown.activities.keeper import KeeperActivities
from gastown.activities.oauth import OAuthConfig
from gastown.activities.podauth import PodAuthActivities, ask_credentials
from gastown.activities.pods import PodActivities
from gastown.activities.podwatch import PodInformers
from gastown.activities.polecats import PolecatActivities
from gastown.activities.rigs import RigActivities
from gastown.activities.slots import closed_workflows, release_slot, request_slot
from gastown.activities.wait import WaitActivities
from gastown.kube import Kube
from gastown.telemetry.tracing import OFF, Tracing
from gastown.workflows.resolve import OperatorDefaults


def build_activities(
    kube: Kube,
    defaults: OperatorDefaults,
    pods: PodInformers | None = None,
    oauth: OAuthConfig | None = None,
    tracing: Tracing = OFF,
) -> list[Callable[..., Any]]:
    """The activity callables a worker registers, all sharing one Kubernetes client (a
    gastown.kube client with NO_RETRY: Temporal retries) and one pod informer (pass the
    worker's, so it can close it on shutdown). `oauth`: where the keeper refreshes sessions
    (default: GASTOWN_OAUTH_TOKEN_URL / GASTOWN_OAUTH_CLIENT_ID, else Claude Code's own).
    `tracing`: the worker's, so pods join the trace of the activity that launched them."""
    polecats = PolecatActivities(kube)
    keeper = KeeperActivities(kube, oauth or OAuthConfig.from_env())
    launcher = PodActivities(kube, tracing)
    convoys = ConvoyActivities(kube, defaults)
    podauth = PodAuthActivities(kube)
    return [
        RigActivities(kube, defaults).resolve_polecat,
        CredentialActivities(kube).check_credentials,
        polecats.ensure_polecat,
        polecats.update_polecat_status,
        launcher.launch_pod,
        launcher.delete_pod,
        launcher.schedule_pod_deletion,
        WaitActivities(kube, polecats, pods or PodInformers(kube)).wait_pod,
        request_slot,
        release_slot,
        closed_workflows,
        podauth.issue_pod_token,
        ask_credentials,
        podauth.revoke_pod_token,
        convoys.resolve_convoy,
        convoys.dispatch_polecat,
        convoys.update_convoy_status,
        convoys.notify_convoy,
        nuke_polecats,
        polecat_reports,
        keeper.refresh_session,
        keeper.secret_version,
    ]
