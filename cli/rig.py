"""`kubectl gt rig create|list|status|delete`."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from gastown.cli.output import Column, Format, age, emit, field
from gastown.cli.session import (
    Failure,
    Kubeconfig,
    KubeContext,
    Namespace,
    Output,
    Session,
    Usage,
    command,
)

app = typer.Typer(help="Manage rigs (a project's git repository and its polecat defaults).")

COLUMNS = [
    Column("NAME", lambda o: o["metadata"]["name"]),
    Column("PREFIX", lambda o: field(o, "spec", "beadsPrefix")),
    Column("PHASE", lambda o: field(o, "status", "phase", default="<none>")),
    Column("POLECATS", lambda o: field(o, "status", "polecatCount", default=0)),
    Column("GIT URL", lambda o: field(o, "spec", "gitURL"), wide=True),
    Column("AGE", lambda o: age(field(o, "metadata", "creationTimestamp"))),
]


def get_rig(session: Session, name: str) -> dict[str, Any]:
    from gastown.kube import RIGS, NotFound, reading

    try:
        return session.client.run_sync(reading.get(RIGS, name))
    except NotFound:
        raise Failure(
            f"rig {name!r} not found: create it with `kubectl gt rig create {name} "
            "--git-url <url> --prefix <prefix>` (see `kubectl gt rig list`)"
        ) from None


def _secret_key(value: str, flag: str) -> dict[str, str]:
    name, sep, key = value.partition(":")
    if not sep or not name or not key:
        raise Usage(f"{flag} must be <secret>:<key>, got {value!r}")
    return {"name": name, "key": key}


@app.command("create")
@command
def create(
    name: Annotated[str, typer.Argument(help="Rig name (lowercase, DNS label).")],
    git_url: Annotated[str, typer.Option("--git-url", help="The repository to clone.")],
    prefix: Annotated[str, typer.Option("--prefix", help="Bead ID prefix, e.g. dm for dm-0001.")],
    theme: Annotated[
        str, typer.Option("--theme", help="Polecat name pool: mad-max, minerals, wasteland.")
    ] = "mad-max",
    max_polecats: Annotated[int, typer.Option("--max-polecats", help="1-100.")] = 8,
    base_branch: Annotated[str | None, typer.Option("--base-branch")] = None,
    git_secret: Annotated[
        str | None, typer.Option("--git-secret", help="Secret with the SSH key or token.")
    ] = None,
    claude_creds_secret: Annotated[
        str | None, typer.Option("--claude-creds-secret", help="Secret from `auth sync`.")
    ] = None,
    api_key_secret: Annotated[
        str | None, typer.Option("--api-key-secret", help="<secret>:<key> holding an API key.")
    ] = None,
    forge_token_secret: Annotated[
        str | None, typer.Option("--forge-token-secret", help="<secret>:<key> for opening PRs.")
    ] = None,
    image: Annotated[str | None, typer.Option("--image", help="Polecat agent image.")] = None,
    output: Output = Format.TABLE,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
    namespace: Namespace = None,  # rigs are cluster-scoped; accepted as the seed's guide uses it
) -> None:
    """Create a rig."""
    from gastown.api.rig import Rig
    from gastown.cli.validation import validated

    defaults: dict[str, Any] = {}
    if base_branch:
        defaults["baseBranch"] = base_branch
    if git_secret:
        defaults["gitSecretRef"] = {"name": git_secret}
    if claude_creds_secret:
        defaults["claudeCredsSecretRef"] = {"name": claude_creds_secret}
    if api_key_secret:
        defaults["apiKeySecretRef"] = _secret_key(api_key_secret, "--api-key-secret")
    if forge_token_secret:
        defaults["forgeTokenSecretRef"] = _secret_key(forge_token_secret, "--forge-token-secret")
    if image:
        defaults["image"] = image
    settings: dict[str, Any] = {"namepoolTheme": theme, "maxPolecats": max_polecats}
    if defaults:
        settings["polecatDefaults"] = defaults
    rig = validated(
        Rig,
        {
            "metadata": {"name": name},
            "spec": {"gitURL": git_url, "beadsPrefix": prefix, "settings": settings},
        },
        FLAGS,
    )
    from gastown.kube import RIGS, Conflict, writing

    session = Session(kubeconfig=kubeconfig, context=context)
    try:
        created = session.client.run_sync(writing.create(RIGS, rig.to_k8s()))
    except Conflict:
        raise Failure(f"rig {name!r} already exists (see `kubectl gt rig status {name}`)") from None
    if output in (Format.JSON, Format.YAML, Format.NAME):
        emit([created], output, COLUMNS, "rig", single=True)
    else:
        typer.echo(f"Rig {name} created")


# Where a field of the Rig comes from on this command line, for error messages.
FLAGS = {
    "metadata.name": "rig name",
    "spec.gitURL": "--git-url",
    "spec.beadsPrefix": "--prefix",
    "spec.settings.namepoolTheme": "--theme",
    "spec.settings.maxPolecats": "--max-polecats",
    "spec.settings.polecatDefaults.baseBranch": "--base-branch",
    "spec.settings.polecatDefaults.gitSecretRef": "--git-secret",
    "spec.settings.polecatDefaults.claudeCredsSecretRef": "--claude-creds-secret",
    "spec.settings.polecatDefaults.apiKeySecretRef": "--api-key-secret",
    "spec.settings.polecatDefaults.forgeTokenSecretRef": "--forge-token-secret",
    "spec.settings.polecatDefaults.image": "--image",
}


@app.command("list")
@command
def list_(
    output: Output = Format.TABLE,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
    namespace: Namespace = None,  # rigs are cluster-scoped; accepted as the seed's guide uses it
) -> None:
    """List all rigs."""
    from gastown.kube import RIGS, reading

    session = Session(kubeconfig=kubeconfig, context=context)
    found = session.client.run_sync(reading.items(RIGS))
    items = sorted(found, key=lambda o: o["metadata"]["name"])
    emit(items, output, COLUMNS, "rig")


@app.command("status")
@command
def status(
    name: Annotated[str, typer.Argument(help="Rig name.")],
    output: Output = Format.TABLE,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
    namespace: Namespace = None,  # rigs are cluster-scoped; accepted as the seed's guide uses it
) -> None:
    """Show a rig, its defaults and its polecats by phase."""
    session = Session(kubeconfig=kubeconfig, context=context)
    rig = get_rig(session, name)
    if output not in (Format.TABLE, Format.WIDE):
        emit([rig], output, COLUMNS, "rig", single=True)
        return
    from gastown.cli.polecat import list_polecats

    polecats = list_polecats(session, namespace=None, rig=name)
    phases: dict[str, int] = {}
    for p in polecats:
        phase = field(p, "status", "phase", default="Pending")
        phases[phase] = phases.get(phase, 0) + 1
    spec = rig["spec"]
    settings = spec.get("settings") or {}
    lines = [
        f"Name:          {name}",
        f"Git URL:       {spec['gitURL']}",
        f"Beads prefix:  {spec['beadsPrefix']}",
        f"Name theme:    {settings.get('namepoolTheme', 'mad-max')}",
        f"Max polecats:  {settings.get('maxPolecats', 8)}",
        f"Phase:         {field(rig, 'status', 'phase', default='<none>')}",
        f"Polecats:      {len(polecats)}"
        + (f" ({', '.join(f'{k} {v}' for k, v in sorted(phases.items()))})" if phases else ""),
    ]
    defaults = settings.get("polecatDefaults") or {}
    for key, value in sorted(defaults.items()):
        shown = value.get("name") if isinstance(value, dict) and "name" in value else value
        lines.append(f"Default {key}: {shown}")
    typer.echo("\n".join(lines))


@app.command("delete")
@command
def delete(
    name: Annotated[str, typer.Argument(help="Rig name.")],
    force: Annotated[
        bool, typer.Option("--force", help="Delete even while polecats are working.")
    ] = False,
    kubeconfig: Kubeconfig = None,
    context: KubeContext = None,
    namespace: Namespace = None,  # rigs are cluster-scoped; accepted as the seed's guide uses it
) -> None:
    """Delete a rig (refused while it has working polecats, unless --force)."""
    from gastown.cli.polecat import is_active, list_polecats
    from gastown.kube import RIGS, writing

    session = Session(kubeconfig=kubeconfig, context=context)
    get_rig(session, name)
    active = [p for p in list_polecats(session, namespace=None, rig=name) if is_active(p)]
    if active and not force:
        names = ", ".join(p["metadata"]["name"] for p in active[:5])
        raise Failure(
            f"rig {name!r} has {len(active)} active polecat(s) ({names}); nuke them first "
            "or pass --force"
        )
    session.client.run_sync(writing.delete(RIGS, name))
    typer.echo(f"Rig {name} deleted")
