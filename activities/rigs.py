"""resolve_polecat: read the Rig and merge its defaults into the polecat's spec."""

from __future__ import annotations

from pydantic import ValidationError
from temporalio import activity

from gastown.activities.errors import permanent
from gastown.activities.kube import Kube, NotFound
from gastown.api.polecat import PolecatSpec
from gastown.api.rig import Rig
from gastown.workflows import contract as c
from gastown.workflows.messages import PolecatInput, Resolved
from gastown.workflows.resolve import OperatorDefaults, SpecError, resolve


class RigActivities:
    def __init__(self, kube: Kube, defaults: OperatorDefaults) -> None:
        self.kube = kube
        self.defaults = defaults

    @activity.defn(name=c.RESOLVE_POLECAT)
    async def resolve_polecat(self, inp: PolecatInput) -> Resolved:
        try:
            spec = PolecatSpec.model_validate(inp.spec)
        except ValidationError as exc:
            raise permanent(c.INVALID_SPEC, f"invalid polecat spec: {exc}") from exc
        try:
            rig = Rig.model_validate(await self.kube.get_rig(spec.rig))
        except NotFound as exc:
            raise permanent(
                c.RIG_NOT_FOUND,
                f"rig {spec.rig!r} not found: create it with `kubectl gt rig create {spec.rig} "
                "--git-url … --prefix …`",
            ) from exc
        try:
            return resolve(inp.namespace, inp.name, spec, rig, self.defaults)
        except SpecError as exc:
            raise permanent(c.INVALID_SPEC, str(exc)) from exc
