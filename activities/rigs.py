"""resolve_polecat: read the Polecat CR and its Rig, and merge the rig's defaults into the spec.

The CR is the one source of the spec (the workflow input names the polecat, nothing more), so
what runs is exactly what the API server admitted. The worker refuses, before acting, a
polecat in a namespace it does not serve, one that was deleted or replaced (another UID), and
one that does not ask to work.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from temporalio import activity

from gastown.activities.errors import permanent, require_served
from gastown.api import identity as ids
from gastown.api.polecat import DesiredState, PolecatSpec
from gastown.api.rig import Rig
from gastown.api.types import validation_summary
from gastown.kube import POLECATS, RIGS, Kube, NotFound, reading
from gastown.workflows import contract as c
from gastown.workflows.messages import PolecatInput, Resolved
from gastown.workflows.resolve import OperatorDefaults, SpecError, resolve


class RigActivities:
    def __init__(self, kube: Kube, defaults: OperatorDefaults) -> None:
        self.kube = kube
        self.defaults = defaults

    async def _polecat(self, inp: PolecatInput) -> dict[str, Any]:
        gone = f"polecat {inp.namespace}/{inp.name} (uid {inp.uid}) no longer exists"
        try:
            obj = await self.kube.run(reading.get(POLECATS, inp.name, inp.namespace))
        except NotFound as exc:
            raise permanent(c.POLECAT_GONE, gone) from exc
        meta = obj["metadata"]
        if meta.get("uid") != inp.uid or meta.get("deletionTimestamp"):
            raise permanent(c.POLECAT_GONE, gone)
        return obj

    @activity.defn(name=c.RESOLVE_POLECAT)
    async def resolve_polecat(self, inp: PolecatInput) -> Resolved:
        require_served(self.defaults.namespaces, inp.namespace, "polecat")
        obj = await self._polecat(inp)
        try:
            spec = PolecatSpec.model_validate(obj.get("spec") or {})
        except ValidationError as exc:
            raise permanent(
                c.INVALID_SPEC, f"invalid polecat spec: {validation_summary(exc)}"
            ) from exc
        if spec.desired_state != DesiredState.WORKING:
            raise permanent(
                c.INVALID_SPEC,
                f"spec.desiredState is {spec.desired_state.value}: set it to Working to start "
                "the polecat",
            )
        try:
            rig = Rig.model_validate(await self.kube.run(reading.get(RIGS, spec.rig)))
        except ValidationError as exc:
            # A rig stored before a rule it breaks (a reserved env name in its defaults).
            raise permanent(
                c.INVALID_SPEC,
                f"rig {spec.rig!r} is invalid: {validation_summary(exc)}; fix it with "
                f"`kubectl edit rig {spec.rig}`",
            ) from exc
        except NotFound as exc:
            raise permanent(
                c.RIG_NOT_FOUND,
                f"rig {spec.rig!r} not found: create it with `kubectl gt rig create {spec.rig} "
                "--git-url … --prefix …`",
            ) from exc
        try:
            resolved = resolve(inp.namespace, inp.name, spec, rig, self.defaults)
        except SpecError as exc:
            raise permanent(c.INVALID_SPEC, str(exc)) from exc
        annotations = obj["metadata"].get("annotations") or {}
        return resolved.model_copy(
            update={
                "uid": inp.uid,
                "max_polecats": rig.spec.settings.max_polecats,
                "allow_same_bead": annotations.get(ids.ANNOTATION_ALLOW_SAME_BEAD) == "true",
            }
        )
