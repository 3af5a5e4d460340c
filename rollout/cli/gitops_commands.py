"""``meshroll gitops``: start experiments from commits to a Git branch, exactly once."""

from __future__ import annotations

import logging
import os
import re
import signal
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from rollout.cli.output import console, fail, option_seconds
from rollout.errors import RolloutError
from rollout.notify import Announcer, close_all

if TYPE_CHECKING:
    from rollout.gitops import GitOpsSync, LocalStarter, Poller
    from rollout.gitops.serving import ServerThread
    from rollout.gitops.writeback import WriteBack

log = logging.getLogger("meshroll.gitops")

EXIT_PROBLEMS = 2  # --once: some files were invalid, refused, or must be tried again


def parse_interval(text: str, option: str = "--interval") -> float:
    seconds = option_seconds(text, option)
    if seconds < 1:
        fail(f"{option} {text!r} is under 1s; poll at most once a second (push webhooks poll at once)")
    return seconds


def parse_write_back(text: str | None, option: str = "--write-back") -> frozenset[str]:
    from rollout.gitops.outcome import parse_write_back as parse

    if text is None:
        return frozenset()
    try:
        return parse(text, option)
    except ValueError as exc:
        fail(str(exc))


def parse_listen_address(text: str) -> tuple[str, int]:
    match = re.fullmatch(r"\[?([^\[\]]*?)\]?:(\d{1,5})", text.strip())
    if match is None or int(match[2]) > 65535:
        fail(f"--listen {text!r} is not HOST:PORT; write it like 127.0.0.1:8088")
    return match[1] or "127.0.0.1", int(match[2])


def _announcers(channel: str | None, token_env: str, webhook_env: str | None, work: Path) -> list[Announcer]:
    from rollout.notify import SLACK_API_URL_ENV
    from rollout.notify.secrets import from_env
    from rollout.notify.slack import slack_bot_notifier, slack_webhook_notifier

    announcers: list[Announcer] = []
    if channel:
        token = from_env(token_env)
        if token is None:
            fail(f"--slack-channel {channel} needs a bot token in ${token_env}; set it, or drop --slack-channel")
        base_url = os.environ.get(SLACK_API_URL_ENV) or None
        announcers.append(
            slack_bot_notifier(token, channel, queue_file=work / "notify" / "slack-queue.json", base_url=base_url)
        )
    if webhook_env:
        url = from_env(webhook_env)
        if url is None:
            fail(f"--slack-webhook-env {webhook_env}: ${webhook_env} is not set; set it to the incoming-webhook URL")
        announcers.append(slack_webhook_notifier(url, queue_file=work / "notify" / "slack-webhook-queue.json"))
    return announcers


class _LineFormatter(logging.Formatter):
    """``meshroll gitops: message``, with the level for warnings and errors."""

    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno <= logging.INFO else f"{record.levelname.lower()}: "
        return f"{record.name.replace('.', ' ')}: {level}{record.getMessage()}"


def _setup_logging() -> None:
    logger = logging.getLogger("meshroll")
    if not any(isinstance(h.formatter, _LineFormatter) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(_LineFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def gitops(
    repo: Annotated[str, typer.Option(help="The repository: a URL git can fetch, or a local path.")],
    branch: Annotated[str, typer.Option(help="The branch to watch.")] = "main",
    path: Annotated[str, typer.Option(help="The folder (or file) in the repository holding experiments.")] = (
        "experiments/"
    ),
    interval: Annotated[str, typer.Option(help="How often to poll, like 30s or 5m.")] = "30s",
    local: Annotated[bool, typer.Option(help="Run experiments here ('meshroll run'), not in the cluster.")] = False,
    state: Annotated[Path, typer.Option(help="The state file (last processed commit and files).")] = Path(
        ".meshroll/gitops-state.json"
    ),
    listen: Annotated[
        str | None,
        typer.Option(
            help="Serve push webhooks on HOST:PORT (POST /gitops/push); needs --webhook-secret-env, as every push "
            "must be signed."
        ),
    ] = None,
    once: Annotated[bool, typer.Option(help="Process pending commits, wait for local runs, and exit.")] = False,
    kubeconfig: Annotated[Path | None, typer.Option(help="Kubeconfig (default: in-cluster or ~/.kube/config).")] = None,
    webhook_secret_env: Annotated[
        str | None, typer.Option(help="Environment variable with the push webhooks' shared secret.")
    ] = None,
    slack_channel: Annotated[str | None, typer.Option(help="Slack channel for GitOps messages.")] = None,
    slack_token_env: Annotated[str, typer.Option(help="Environment variable with the Slack bot token.")] = (
        "SLACK_BOT_TOKEN"
    ),
    slack_webhook_env: Annotated[
        str | None, typer.Option(help="Environment variable with a Slack incoming-webhook URL for GitOps messages.")
    ] = None,
    skip_existing: Annotated[
        bool, typer.Option(help="On the first run, record the experiments already there without starting them.")
    ] = False,
    write_back: Annotated[
        str | None,
        typer.Option(
            help="Write each run's outcome back to the repository: notes (git notes under refs/notes/meshroll), "
            "revert-branch (a branch reverting a rolled-back commit, for a pull request), or notes,revert-branch."
        ),
    ] = None,
) -> None:
    """Start experiments from Git commits: new or changed files under --path start once, with the commit's provenance.

    Exit codes with --once: 0 all processed, 2 some files invalid or to be retried, 1 error (--path matching
    no experiment file is one; without --once it is said once, and polling goes on).
    """
    from rollout.gitops import ClusterApplier, GitOpsSync, GitRepo, LocalStarter, Poller, Reporter, StateFile
    from rollout.gitops.errors import BranchMissing
    from rollout.gitops.serving import ServerThread
    from rollout.gitops.trigger import leaves_repository
    from rollout.gitops.webhook import standalone_app
    from rollout.notify.secrets import from_env

    _setup_logging()
    seconds = parse_interval(interval)
    write_backs = parse_write_back(write_back)
    address = parse_listen_address(listen) if listen else None
    if leaves_repository(path):
        fail(f"--path {path!r} leaves the repository; give a folder inside it, like experiments/")
    secret = None
    if address is not None:
        if not webhook_secret_env:
            fail("--listen needs --webhook-secret-env NAME: the environment variable with the webhooks' secret")
        secret = from_env(webhook_secret_env)
        if secret is None:
            fail(f"--webhook-secret-env {webhook_secret_env}: ${webhook_secret_env} is not set; set it to the secret")
    work = state.parent / f"{state.stem}.d"
    try:
        git = GitRepo(repo, work)
        try:
            git.check_branch(branch)
        except BranchMissing:
            if once:
                raise  # nothing to process: say so and exit 1
            # long-running: the poller says once that it waits for the first push, and keeps polling
        starter = LocalStarter(work) if local else ClusterApplier.from_kubeconfig(kubeconfig)
        announcers = _announcers(slack_channel, slack_token_env, slack_webhook_env, work)
        state_file = StateFile(state)
        state_file.hold()  # for the life of this process: two triggers on one state would start experiments twice
        sync = GitOpsSync(git, branch, path, state_file, starter, Reporter(announcers), skip_existing=skip_existing)
        local_runs = starter if isinstance(starter, LocalStarter) else None
        writeback = _write_back(write_backs, sync, local_runs)
        if once:
            _once(sync, local_runs, announcers, writeback, path)
        poller = Poller(sync, seconds, after_poll=_after_poll(local_runs, writeback))
        server = ServerThread(standalone_app(secret, poller.on_push), *address) if secret and address else None
        _serve(poller, server, local_runs, announcers)
    except RolloutError as exc:
        fail(str(exc))


def _write_back(kinds: frozenset[str], sync: GitOpsSync, local_runs: LocalStarter | None) -> WriteBack | None:
    """The write-back (None without --write-back); the sync's starter is wrapped so that every start is watched."""
    from rollout.gitops.apply import ClusterApplier
    from rollout.gitops.watch import ClusterOutcomes, LocalOutcomes, OutcomeReader
    from rollout.gitops.writeback import attach

    if not kinds:
        return None
    reader: OutcomeReader
    if local_runs is not None:
        reader = LocalOutcomes(local_runs)
    elif isinstance(sync.starter, ClusterApplier):
        reader = ClusterOutcomes(sync.starter)
    else:  # pragma: no cover - the CLI makes one of the two
        raise RuntimeError("--write-back needs a local or cluster starter")
    return attach(kinds, sync, reader)


def _after_poll(local_runs: LocalStarter | None, writeback: WriteBack | None) -> Callable[[object], object]:
    def after(_: object) -> object:
        if writeback is not None:
            return writeback.after_poll()  # reaps the local runs too
        return local_runs.reap() if local_runs is not None else None

    return after


def _once(
    sync: GitOpsSync,
    local_runs: LocalStarter | None,
    announcers: list[Announcer],
    writeback: WriteBack | None,
    path: str,
) -> None:
    try:
        result = sync.poll()
        ended = local_runs.wait() if local_runs is not None else []
        if writeback is not None:
            writeback.reader.note_exits(ended)
        written = writeback.after_poll() if writeback is not None else True
    finally:
        close_all(announcers)
    if result.unmatched:  # a mistyped --path would otherwise pass in silence, in CI too
        fail(
            f"--path {path!r} matches {sync.unmatched_at(result.tip)}; give --path the folder that holds the "
            "experiments, or commit one under it"
        )
    for line in result.started:
        console.print(f"started {line}", markup=False, soft_wrap=True)
    if result.forced:
        console.print("force-push detected and resynchronised", markup=False)
    for key, code in ended:
        console.print(f"local run of {key} ended with exit {code}", markup=False)
    if not written:
        console.print("some outcomes are not written back yet (see the log); they are retried", markup=False)
    console.print(f"processed up to {result.tip[:8]}", markup=False)
    raise typer.Exit(0 if result.clean and written else EXIT_PROBLEMS)


def _serve(
    poller: Poller, server: ServerThread | None, local_runs: LocalStarter | None, announcers: list[Announcer]
) -> None:
    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping", signal.Signals(signum).name)
        poller.stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if server is not None:
            server.start()
            log.info("push webhooks: POST %s/gitops/push", server.url)
        poller.run()
    finally:
        if server is not None:
            server.stop()
        if local_runs is not None:
            local_runs.stop_all()
        close_all(announcers)
        for s, handler in previous.items():
            signal.signal(s, handler)


def bench_gitops(
    files: Annotated[
        list[int] | None, typer.Option("--files", help="Experiment files in the repository (default: 100, 300, 1000).")
    ] = None,
    commits: Annotated[int, typer.Option(help="Commits the files are spread over.", min=1, max=1000)] = 10,
) -> None:
    """What polling a real git repository costs as its experiment files grow: a first poll, then a quiet one."""
    from rollout.gitops.bench import measure

    sizes = files or [100, 300, 1000]
    if any(not 1 <= n <= 20000 for n in sizes):
        fail("--files takes numbers of files within [1, 20000]")
    lines = [
        f"# meshroll gitops: polling a real git repository (files over {commits} commits; nothing really started)",
        "",
        "| files | first poll | per file | files parsed | state writes | journal lines | no-change poll |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    console.print("\n".join(lines), markup=False, soft_wrap=True)
    for n in sizes:
        try:
            cost = measure(n, commits)
        except RolloutError as exc:
            fail(str(exc))
        console.print(
            f"| {n:,} | {cost.first_s:,.2f} s | {1000 * cost.first_s / n:,.1f} ms | {cost.parsed:,} | "
            f"{cost.state_writes:,} | {cost.journal_lines:,} | {1000 * cost.again_s:,.0f} ms |",
            markup=False,
            soft_wrap=True,
        )
    console.print(
        "\nfirst poll: every file new (fetch, read, parse, decide, start, record); files parsed and state writes: "
        "by that poll (the state file is written whole once a poll; each file acted on appends a journal line); "
        "no-change poll: the next poll, with nothing new.",
        markup=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    app.command()(gitops)


def register_bench(bench_app: typer.Typer) -> None:
    bench_app.command("gitops")(bench_gitops)
