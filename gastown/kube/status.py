"""Pure builders: the pydantic status models of gastown.api as patch bodies.

Status writers fill a `PolecatStatus`, `RigStatus` or `PodMirror` (names, types and limits
checked by the model) and turn it into the body of a merge patch here, instead of building
dicts by hand.
"""

from __future__ import annotations

from typing import Any

from gastown.api.types import StatusModel
from gastown.kube.calls import JSON


def fields(model: StatusModel, *, clear_unset: bool = False) -> JSON:
    """The model as API JSON. `clear_unset` keeps unset fields as null, which a merge patch
    reads as "delete": for a sub-object one writer owns entirely (status.pod)."""
    data: dict[str, Any] = model.model_dump(
        mode="json", by_alias=True, exclude_none=not clear_unset
    )
    return data


def status_patch(
    model: StatusModel,
    *,
    key: str | None = None,
    clear_unset: bool = False,
    resource_version: str | None = None,
    extra: JSON | None = None,
) -> JSON:
    """`{"status": <model>}`, or `{"status": {key: <model>}}` for one owned sub-object;
    with `resource_version`, guarded against a concurrent writer."""
    body = fields(model, clear_unset=clear_unset)
    if extra:
        body.update(extra)
    patch: JSON = {"status": {key: body} if key else body}
    if resource_version is not None:
        patch["metadata"] = {"resourceVersion": resource_version}
    return patch
