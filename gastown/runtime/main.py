"""`gt-polecat`: the program every container of a polecat pod runs.

- `gt-polecat init` (init container git-init, git Secret): clone, create or resume the branch.
- `gt-polecat agent` (init container claude, model credentials only): run the agent and leave
  its report (gastown/runtime/handoff.py) for the publisher; exit 0 once the report is written.
- `gt-polecat publish` (container publish, git and forge Secrets): read the report as hostile
  input, commit leftovers, push, open the PR, write the result to the termination message
  path and exit with the outcome's code.
- `gt-polecat credential-helper get` is what git calls for HTTPS credentials.

All inputs come from env vars and mounted files; see docs/runtime.md for the contract.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
import time
from pathlib import Path

from gastown.runtime import (
    agent,
    config,
    credentials,
    forge,
    gitops,
    handoff,
    prompt,
    redact,
    ssh,
    startclock,
    stream,
    tracing,
)
from gastown.runtime.config import ConfigError, Settings
from gastown.runtime.credhelper import helper_main
from gastown.runtime.result import ErrorClass, Outcome, PolecatResult

#: When this process started (as near as Python lets us see it): for `init`, the start of the
#: pod's work that the agent's time budget counts from (gastown/runtime/startclock.py).
_STARTED = time.time()

_SESSION_ID = re.compile(r"[A-Za-z0-9._:-]{1,100}")
_AUTH_FAILURE_MARKERS = (
    "authentication_error",
    "OAuth token has expired",
    "Invalid API key",
    "invalid x-api-key",
    "Please run /login",
)


def log(message: str) -> None:
    print(f"gt-polecat: {redact.redact(message)}", file=sys.stderr, flush=True)


def write_result(path: Path, result: PolecatResult) -> None:
    """Write the termination message; failing to write it must not hide the exit code."""
    result.message = redact.redact(result.message)  # before the cut, so the cut is exact
    text = result.to_termination_message()
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        log(f"could not write the result to {path}: {exc}")
    log(f"outcome {result.outcome.value}: {result.message}")


def _git(settings: Settings) -> gitops.Git:
    return gitops.Git(settings.workspace, gitops.transport_env(settings, settings.env))


def do_init(settings: Settings) -> PolecatResult | None:
    """Clone and branch; None on success (the run container reports the outcome)."""
    try:
        git = _git(settings)
        with tracing.span("clone", **{"gastown.base_branch": settings.base_branch}):
            state = gitops.clone_and_branch(settings, git)
    except ConfigError as exc:
        return PolecatResult(
            outcome=Outcome.CLONE_FAILED, error_class=ErrorClass.CONFIG_INVALID, message=str(exc)
        )
    except gitops.GitError as exc:
        message = exc.message
        target = ssh.parse_ssh_url(settings.repo_url)
        if exc.error_class is ErrorClass.HOST_KEY_UNKNOWN and target is not None:
            message = f"{ssh.unknown_host_hint(target)}. {message}"
        if exc.error_class is ErrorClass.HOST_KEY_CHANGED:
            message = (
                "the SSH host key presented differs from the known one (a rotated key or an "
                f"attack); update the known_hosts ConfigMap. {message}"
            )
        return PolecatResult(
            outcome=Outcome.CLONE_FAILED,
            branch=settings.work_branch,
            error_class=exc.error_class,
            message=message,
        )
    try:
        startclock.record(settings.workspace, _STARTED)
    except OSError as exc:  # the agent then gets its whole budget, as before the record
        log(f"could not record the start time for the agent's budget: {exc.strerror}")
    verb = "resumed" if state.resumed else "created"
    log(f"cloned {settings.base_branch} at {state.base_commit[:12]}; {verb} {state.work_branch}")
    return None


def _agent_outcome(run: stream.AgentRun) -> tuple[Outcome, ErrorClass | None, str]:
    event = run.result_event or {}
    text = str(event.get("result") or "") + "\n" + run.stderr_tail
    if run.terminated:
        return (
            Outcome.AGENT_FAILED,
            ErrorClass.TERMINATED,
            "stopped by SIGTERM (pod deleted or deadline reached); partial work pushed if any",
        )
    if run.idle_timeout:
        return Outcome.STUCK, ErrorClass.IDLE_TIMEOUT, "the agent produced no output in time"
    if run.out_of_time:
        return (
            Outcome.STUCK,
            ErrorClass.AGENT_DEADLINE,
            "the agent ran out of its time (the pod's activeDeadlineSeconds less the "
            "publisher's reserve); its work so far is pushed",
        )
    failed = run.exit_code != 0 or bool(event.get("is_error"))
    # Only a failed run is read for auth errors: a successful answer may well discuss them.
    if failed and (
        event.get("api_error_status") == 401 or any(m in text for m in _AUTH_FAILURE_MARKERS)
    ):
        return Outcome.AUTH_EXPIRED, ErrorClass.TOKEN_EXPIRED, "the model API refused the token"
    if failed and "unknown option '--setting-sources'" in run.stderr_tail:
        return (
            Outcome.AGENT_FAILED,
            ErrorClass.CONFIG_INVALID,
            "this Claude Code does not know --setting-sources, which the runtime passes so "
            "that the repository's .claude settings cannot redirect the model endpoint: use "
            "an image with a newer Claude Code (the polecat-agent image's, docs/runtime.md)",
        )
    if failed:
        detail = str(event.get("result") or run.stderr_tail or "").strip()[-800:]
        return (
            Outcome.AGENT_FAILED,
            ErrorClass.AGENT_EXIT,
            f"the agent exited with {run.exit_code}: {detail}",
        )
    return Outcome.COMPLETED, None, str(event.get("result") or "").strip()[:800]


def _report(
    outcome: Outcome, error_class: ErrorClass | None, message: str, run: stream.AgentRun | None
) -> handoff.AgentReport:
    event = (run.result_event if run is not None else None) or {}
    turns = event.get("num_turns")
    cost = event.get("total_cost_usd")
    session = run.session_id if run is not None else None
    return handoff.AgentReport(
        outcome=outcome,
        error_class=error_class,
        message=redact.redact(message)[: handoff.MESSAGE_MAX],
        agent_turns=turns if isinstance(turns, int) and 0 <= turns <= 1_000_000 else None,
        agent_cost_usd=float(cost)
        if isinstance(cost, int | float) and 0 <= cost <= 1_000_000
        else None,
        agent_session_id=session
        if isinstance(session, str) and _SESSION_ID.fullmatch(session)
        else None,
    )


def _time_left(settings: Settings) -> float | None:
    """The agent's budget less the time since git-init started (the clone, the pull of the
    agent's image): read here, before the agent runs and could rewrite the record."""
    total = settings.agent_time_budget_seconds
    if total is None:
        return None
    try:
        started = startclock.read(settings.workspace)
    except ValueError as exc:
        log(f"ignoring the recorded start of git-init ({exc}): budget {total:.0f}s")
        return total
    budget = startclock.agent_budget(total, started)
    if budget.ignored is not None:
        log(f"ignoring the recorded start of git-init ({budget.ignored}): budget {total:.0f}s")
    elif budget.elapsed is not None:
        log(
            f"{budget.elapsed:.0f}s since git-init started: the agent gets {budget.seconds:.0f}s "
            f"of its {total:.0f}s budget"
        )
    return budget.seconds


def do_agent(settings: Settings) -> handoff.AgentReport:
    """The agent phase: credentials, prompt, the agent itself. No git credential is mounted
    here and nothing is pushed; the publisher acts on the report."""
    auth_env: dict[str, str] = {}
    if settings.agent == "claude-code":
        try:
            auth = credentials.prepare(settings.home, settings.claude_creds_dir, settings.env)
        except credentials.CredentialsError as exc:
            expired = exc.error_class is ErrorClass.TOKEN_EXPIRED
            outcome = Outcome.AUTH_EXPIRED if expired else Outcome.AGENT_FAILED
            return _report(outcome, exc.error_class, exc.message, None)
        auth_env = auth.env
        log(f"Claude credentials: {auth.kind}")
    # This container has a home of its own (not git-init's): trust the workspace in it, as
    # init did in the git containers' home, or the agent's git refuses the clone.
    try:
        gitops.trust_workspace_for_the_agent(settings, _git(settings))
    except gitops.GitError as exc:
        log(f"could not trust the workspace in $HOME/.gitconfig: {exc.message}")
    text = prompt.build_prompt(settings)
    prompt_file = prompt.write_prompt(settings.home, text)
    try:
        inv = agent.invocation(settings, settings.env, prompt_file, auth_env)
    except ConfigError as exc:
        return _report(Outcome.AGENT_FAILED, ErrorClass.CONFIG_INVALID, str(exc), None)
    max_runtime = _time_left(settings)
    log(f"starting agent {settings.agent} on bead {settings.bead_id!r} ({len(text)} chars)")
    try:
        with tracing.span("agent", **{"gastown.agent": settings.agent}) as agent_span:
            run = asyncio.run(
                stream.run_agent(
                    inv.argv,
                    cwd=settings.workspace,
                    env=inv.env,
                    stdin_path=inv.stdin,
                    max_idle=settings.max_idle_seconds,
                    grace=settings.kill_grace_seconds,
                    max_runtime=max_runtime,
                    stdout=sys.stdout.buffer,
                    stderr=sys.stderr.buffer,
                )
            )
            agent_span.set("gastown.agent.exit_code", run.exit_code)
    except (FileNotFoundError, PermissionError) as exc:
        message = f"could not start the agent {inv.argv[0]!r}: {exc.strerror}"
        return _report(Outcome.AGENT_FAILED, ErrorClass.AGENT_NOT_FOUND, message, None)
    outcome, error_class, message = _agent_outcome(run)
    return _report(outcome, error_class, message, run)


def do_publish(settings: Settings, report: handoff.AgentReport | None) -> PolecatResult:
    """The publish phase: the agent's report (None when it was refused or missing), then the
    leftovers commit, the push and the PR."""
    result = PolecatResult(outcome=Outcome.AGENT_FAILED, branch=settings.work_branch)
    try:
        git = _git(settings)
        state = gitops.load_state(settings, git)
    except gitops.GitError as exc:
        result.outcome, result.error_class, result.message = (
            Outcome.CLONE_FAILED,
            exc.error_class,
            exc.message,
        )
        return result
    result.base_commit = state.base_commit
    if report is None:
        result.error_class = ErrorClass.INTERNAL
        result.message = "the agent container's report is missing or was refused"
    else:
        result.outcome, result.error_class = report.outcome, report.error_class
        result.message = report.message
        result.agent_turns, result.agent_cost_usd = report.agent_turns, report.agent_cost_usd
        result.agent_session_id = report.agent_session_id
        if not report.pushes:
            result.head_commit = git.rev("HEAD")
            return result
    return _finish(settings, git, state, result)


def _register_secrets(settings: Settings) -> None:
    """Teach the redactor the publisher's secrets before it handles anything the agent wrote:
    the credential helper reads the git token in another process, so this one would not know
    it otherwise."""
    files: list[Path] = []
    if settings.git_secret_dir is not None:
        files += [settings.git_secret_dir / k for k in ("token", "password")]
    if settings.forge_token_file is not None:
        files.append(settings.forge_token_file)
    for path in files:
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError):
            continue
        if value:
            redact.register(value)


def _read_report(settings: Settings) -> handoff.AgentReport | None:
    if settings.agent_result_file is None:
        log("GT_AGENT_RESULT_FILE is not set: no agent report to read")
        return None
    try:
        report = handoff.read(settings.agent_result_file)
    except handoff.HandoffError as exc:
        log(str(exc))
        return None
    return report.model_copy(update={"message": redact.redact(report.message)})


def _finish(
    settings: Settings, git: gitops.Git, state: gitops.WorkState, result: PolecatResult
) -> PolecatResult:
    """Commit leftovers, push whatever commits exist, and open the PR when all went well."""
    try:
        with tracing.span("commit") as commit_span:
            if gitops.commit_leftovers(git, settings.bead_id):
                log("committed changes the agent left uncommitted")
            result.head_commit = git.rev("HEAD")
            result.commits = gitops.count_commits(git, state.base_commit)
            commit_span.set("gastown.commits", result.commits)
    except gitops.GitError as exc:
        result.outcome, result.error_class, result.message = (
            Outcome.AGENT_FAILED,
            exc.error_class,
            exc.message,
        )
        return result
    if result.commits == 0:
        if result.outcome is Outcome.COMPLETED:
            result.outcome = Outcome.NO_CHANGES
            result.message = "the agent made no commits; nothing to push"
        return result
    try:
        with tracing.span("push", **{"gastown.branch": state.work_branch}):
            gitops.push(
                git, state.work_branch, settings.push_attempts, settings.push_backoff_seconds
            )
        result.pushed = True
        log(f"pushed {result.commits} commit(s) to {state.work_branch}")
    except gitops.GitError as exc:
        if result.outcome is Outcome.COMPLETED:
            result.outcome, result.error_class, result.message = (
                Outcome.PUSH_FAILED,
                exc.error_class,
                exc.message,
            )
        else:  # the agent's failure stays the headline; the lost push is added to it
            result.message = f"{result.message}; and the push failed: {exc.message}"
        return result
    if result.outcome is Outcome.COMPLETED:
        with tracing.span("pull-request") as pr_span:
            _open_pull_request(settings, state, result)
            if result.error_class is ErrorClass.PULL_REQUEST_FAILED:
                pr_span.fail(result.message)
    return result


def _open_pull_request(settings: Settings, state: gitops.WorkState, result: PolecatResult) -> None:
    token_file = settings.forge_token_file
    if token_file is None or not token_file.is_file():
        return
    token = token_file.read_text().strip()
    redact.register(token)
    repo = forge.parse_repo(settings.repo_url)
    if settings.forge_repository:
        host = repo.host if repo is not None else ""
        repo = forge.RepoRef(host, settings.forge_repository.strip("/"))
    if not token or repo is None:
        log("a forge token is mounted but the repository's owner/name is unknown; no PR")
        return
    kind = forge.forge_kind(settings.forge, repo)
    api_url = settings.forge_api_url or forge.default_api_url(kind, repo)
    bead = settings.bead_id or state.work_branch
    try:
        result.pull_request_url = forge.open_pull_request(
            kind=kind,
            api_url=api_url,
            token=token,
            repo=repo,
            head=state.work_branch,
            base=state.base_branch,
            title=f"{bead}: work by polecat {settings.polecat}".strip(),
            body=(
                f"Bead `{settings.bead_id}` worked by polecat `{settings.polecat}` of rig "
                f"`{settings.rig}` ({result.commits} commit(s)).\n\n{result.message}"
            )[:60000],
            allowed_hosts=forge.allowed_api_hosts(repo, settings.forge_api_url),
            ca_file=settings.git_ca_file,
        )
        log(f"pull request: {result.pull_request_url}")
    except forge.ForgeError as exc:
        result.error_class = ErrorClass.PULL_REQUEST_FAILED
        result.message = f"pushed, but opening the pull request failed: {exc}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gt-polecat", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("init", help="clone the rig and create or resume the work branch")
    sub.add_parser("agent", help="run the agent and leave its report for the publisher")
    sub.add_parser("publish", help="commit, push, open the PR, report the pod's result")
    sub.add_parser(
        "run", help="agent and publish in one process (outside a pod only: no isolation)"
    )
    sub.add_parser("demo-agent", help="the built-in DEMO agent (not an AI; see demo_agent.py)")
    helper = sub.add_parser("credential-helper")
    helper.add_argument("operation", nargs="?", default="")
    return parser


def _agent_command(settings: Settings) -> PolecatResult | None:
    """`gt-polecat agent`: the report goes to the publisher; the exit is 0 once it is written,
    so the pod goes on to the publisher whatever the agent did. The result written here (the
    container's termination message) is for `kubectl describe` and for a pod that ends in this
    container: only when the report could not be written does the exit code carry the outcome."""
    report = do_agent(settings)
    result = PolecatResult(
        outcome=report.outcome,
        branch=settings.work_branch,
        error_class=report.error_class,
        message=report.message,
        agent_turns=report.agent_turns,
        agent_cost_usd=report.agent_cost_usd,
        agent_session_id=report.agent_session_id,
    )
    if settings.agent_result_file is None:
        result.message = f"GT_AGENT_RESULT_FILE is not set; {result.message}"
        return result
    try:
        handoff.write(settings.agent_result_file, report)
    except OSError as exc:
        result.message = f"could not write the agent report: {exc.strerror}; {result.message}"
        return result
    write_result(settings.termination_log, result)
    return None


def _publish_command(settings: Settings) -> PolecatResult:
    _register_secrets(settings)
    return do_publish(settings, _read_report(settings))


def _run_command(settings: Settings) -> PolecatResult:
    """Both phases in one process, the report passed in memory: for running gt-polecat
    outside a pod (tests, a laptop). Pods never use it: here the agent shares the process's
    view of every Secret, which is what the pod split exists to prevent."""
    return do_publish(settings, do_agent(settings))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "credential-helper":
        return helper_main([args.operation])
    if args.command == "demo-agent":
        from gastown.runtime import demo_agent

        return demo_agent.main()
    termination_log = Path(os.environ.get("GT_TERMINATION_LOG") or config.DEFAULT_TERMINATION_LOG)
    failed = Outcome.CLONE_FAILED if args.command == "init" else Outcome.AGENT_FAILED
    try:
        settings = config.load()
    except ConfigError as exc:
        result = PolecatResult(
            outcome=failed, error_class=ErrorClass.CONFIG_INVALID, message=str(exc)
        )
        write_result(termination_log, result)
        return result.exit_code
    # The pod's spans join the trace the worker handed over (TRACEPARENT), when it did.
    tracer = tracing.install(tracing.from_env(os.environ))
    commands = {
        "init": do_init,
        "agent": _agent_command,
        "publish": _publish_command,
        "run": _run_command,
    }
    with tracer.span(f"gt-polecat {args.command}") as top:
        try:
            outcome = commands[args.command](settings)
        except Exception as exc:  # a bug must still leave a classified, parseable result
            outcome = PolecatResult(
                outcome=failed,
                error_class=ErrorClass.INTERNAL,
                message=f"internal error: {type(exc).__name__}: {exc}",
            )
        if outcome is not None:
            top.set("gastown.outcome", outcome.outcome.value)
            if outcome.exit_code != 0:
                top.fail(outcome.outcome.value)
            write_result(settings.termination_log, outcome)
    return 0 if outcome is None else outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
