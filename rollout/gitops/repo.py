"""The watched repository, through the ``git`` command: a bare mirror in the work folder, fetched by polling.

Only this module runs git (``gitwrite`` writes notes and revert branches through ``git`` and ``attempt``).
Every failure becomes a one-line ``GitError`` with git's own last line; credentials in a URL
(``https://user:token@host/...``) never appear in messages.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from rollout.gitops import history
from rollout.gitops.errors import BranchMissing, GitError

TIMEOUT_SECONDS = 120
MAX_FILE_BYTES = 1 << 20
MESSAGE_LIMIT = history.MESSAGE_LIMIT
_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")
_SHA = re.compile(r"^[0-9a-f]{40,64}$")


def display_url(url: str) -> str:
    """The URL without credentials: safe for logs, messages, state files and annotations."""
    return _USERINFO.sub("***@", url)


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    author: str  # "Name <email>"
    message: str

    @property
    def short(self) -> str:
        return self.sha[:8]

    @property
    def subject(self) -> str:
        lines = self.message.strip().splitlines()
        return lines[0] if lines else ""


class GitRepo:
    """A remote (URL or local path) and its bare mirror in ``work_dir``."""

    def __init__(self, url: str, work_dir: Path) -> None:
        if url.startswith("-"):
            raise GitError(f"--repo {url!r} starts with '-'; give a URL or a path")
        local = Path(url).expanduser()
        self.url = str(local.resolve()) if "://" not in url and local.exists() else url
        self.display = display_url(self.url)
        digest = hashlib.sha256(self.url.encode()).hexdigest()[:16]
        self.mirror = work_dir.resolve() / "mirrors" / f"{digest}.git"  # git -C runs in it: never relative

    # --- the remote ----------------------------------------------------------------------------

    def check_branch(self, branch: str) -> str:
        """The branch's tip on the remote; BranchMissing when it has no such branch, GitError when unreachable."""
        if not re.fullmatch(r"[A-Za-z0-9._/-]+", branch) or branch.startswith("-"):
            raise GitError(f"--branch {branch!r} is not a branch name")
        ref = f"refs/heads/{branch}"
        out = self._git("ls-remote", "--heads", self.url, what="read the repository", local=False)
        heads: dict[str, str] = {}  # ref -> sha
        for line in out.splitlines():
            sha, _, name = line.partition("\t")
            heads[name] = sha
        if ref in heads:
            return heads[ref]
        raise BranchMissing(self.display, branch, sorted(h.removeprefix("refs/heads/") for h in heads))

    def fetch(self, branch: str) -> str:
        """Bring the mirror up to date (force: a rewritten branch is taken as it is); the tip's commit.
        BranchMissing when the remote has no such branch (yet)."""
        if not (self.mirror / "HEAD").exists():
            self.mirror.parent.mkdir(parents=True, exist_ok=True)
            self._git("init", "--quiet", "--bare", str(self.mirror), what="create the mirror", local=False)
        try:
            self._git(
                "fetch",
                "--quiet",
                "--no-tags",
                "--force",
                "--no-write-fetch-head",
                self.url,
                f"+refs/heads/{branch}:refs/meshroll/heads/{branch}",
                what="fetch",
            )
        except GitError:
            self.check_branch(branch)  # BranchMissing when that is why; else the fetch's own error
            raise
        return self._git("rev-parse", "--verify", f"refs/meshroll/heads/{branch}^{{commit}}", what="find the tip")

    # --- the mirror ----------------------------------------------------------------------------

    def has_commit(self, sha: str) -> bool:
        return _SHA.match(sha) is not None and self._rc("cat-file", "-e", f"{sha}^{{commit}}") == 0

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        code = self._rc("merge-base", "--is-ancestor", ancestor, descendant)
        if code not in (0, 1):
            raise GitError(f"git merge-base failed for {ancestor[:8]} and {descendant[:8]} in {self.display}")
        return code == 0

    def merge_base(self, a: str, b: str) -> str | None:
        if not (self.has_commit(a) and self.has_commit(b)):
            return None
        result = self._run("merge-base", a, b)
        return result.stdout.decode().strip() or None if result.returncode == 0 else None

    def files(self, commit: str, path: str) -> dict[str, str]:
        """Every file under ``path`` at ``commit``: path -> blob id."""
        spec = [path] if path else []
        out = self._git("ls-tree", "-r", "-z", "--full-tree", commit, "--", *spec, what="list files", strip=False)
        found = {}
        for entry in out.split("\0"):
            meta, _, name = entry.partition("\t")
            parts = meta.split()
            if len(parts) == 3 and parts[1] == "blob" and (not path or name == path or name.startswith(path + "/")):
                found[name] = parts[2]
        return found

    def parents(self, sha: str) -> list[str]:
        """The commit's parents, the first parent first (none for a root commit); GitError for an unknown commit."""
        out = self._git("rev-list", "--parents", "-n", "1", f"{sha}^{{commit}}", "--", what="read a commit")
        return out.split()[1:]

    def empty_tree(self) -> str:
        """The id of the empty tree (in the mirror's hash): what a root commit's changes are read against."""
        return self._git("hash-object", "-t", "tree", "--stdin", what="hash the empty tree", stdin=b"")

    def is_symlink(self, commit: str, path: str) -> bool:
        """Whether ``path`` at ``commit`` is a symbolic link (its blob holds the target's name, not a file)."""
        out = self._git("ls-tree", "-z", "--full-tree", commit, "--", path, what="list files", strip=False)
        return any(entry.startswith("120000 ") for entry in out.split("\0"))

    def read_blob(self, blob: str) -> bytes:
        size = int(self._git("cat-file", "-s", blob, what="read a file"))
        if size > MAX_FILE_BYTES:
            raise GitError(f"blob {blob[:8]} is {size} bytes (over 1 MiB)")
        result = self._run("cat-file", "blob", blob)
        if result.returncode != 0:
            raise GitError(f"cannot read blob {blob[:8]} from the mirror of {self.display}")
        return result.stdout

    def read_blobs(self, blobs: Iterable[str]) -> dict[str, bytes]:
        """Many blobs through two git processes; any missing or over 1 MiB is left out (``read_blob`` says why)."""
        wanted = sorted(set(blobs))
        if not wanted:
            return {}
        sizes = self._batch("--batch-check", wanted).decode("utf-8", "replace").splitlines()
        small = []
        for line in sizes:
            parts = line.split()
            if len(parts) == 3 and parts[1] == "blob" and int(parts[2]) <= MAX_FILE_BYTES:
                small.append(parts[0])
        out = self._batch("--batch", small) if small else b""
        found: dict[str, bytes] = {}
        at = 0
        while at < len(out):  # each: "<sha> blob <size>\n", the content, "\n"
            end = out.index(b"\n", at)
            sha, _, size = out[at:end].decode().split()
            found[sha] = out[end + 1 : end + 1 + int(size)]
            at = end + 1 + int(size) + 1
        return found

    def last_commit(self, tip: str, path: str) -> CommitInfo:
        """The newest commit reachable from ``tip`` that changed ``path``."""
        out = self._git("log", "-1", "--format=%H%x00%an <%ae>%x00%B", tip, "--", path, what="read the log")
        sha, author, message = ([*out.split("\0", 2), "", ""])[:3]
        if not sha:
            return self.commit(tip)
        return CommitInfo(sha, author, message.strip()[:MESSAGE_LIMIT])

    def last_commits(
        self, tip: str, paths: Iterable[str], under: str = "", since: str | None = None
    ) -> dict[str, CommitInfo]:
        """``last_commit`` for many paths under ``under`` out of one walk of the history (``history``).

        ``since``: a commit behind ``tip`` whose history is not read (the last poll's); a path whose
        answer lies there, and every path when the walk cannot be read, is asked of git alone."""
        wanted = set(paths)
        if not wanted:
            return {}
        found: dict[str, CommitInfo] = {}
        try:
            out = self._walk(tip, under, since)
        except GitError:  # e.g. a git without --diff-merges (before 2.31): each path alone, as before
            out = None
        if out is not None:
            order, commits = history.parse_walk(out, wanted)
            for path, walked in history.last_changes(order, commits, tip, wanted).items():
                found[path] = CommitInfo(walked.sha, walked.author, walked.message)
        for path in sorted(wanted - set(found)):
            found[path] = self.last_commit(tip, path)
        return found

    def _walk(self, tip: str, under: str, since: str | None) -> bytes:
        """``git log`` from ``tip`` (not into ``since``) with each commit's first-parent changes under ``under``."""
        revisions = [tip, *([f"^{since}"] if since else [])]
        spec = ["--", under] if under else []
        # log.follow would make one path a rename-following walk; this one reads every commit
        args = ("-c", "log.follow=false", "log", *history.WALK_OPTIONS, *revisions, *spec)
        result = self._run(*args)
        if result.returncode != 0:
            raise GitError(f"cannot read the log of {self.display} (git log exit {result.returncode})")
        return result.stdout

    def commit(self, sha: str) -> CommitInfo:
        out = self._git("log", "-1", "--format=%H%x00%an <%ae>%x00%B", sha, what="read the log")
        sha, author, message = ([*out.split("\0", 2), "", ""])[:3]
        return CommitInfo(sha, author, message.strip()[:MESSAGE_LIMIT])

    # --- running git ---------------------------------------------------------------------------

    def git(
        self,
        *args: str,
        what: str,
        at: Path | None = None,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
    ) -> str:
        """Run git in the mirror (or in ``at``, a worktree of it); its output, stripped; GitError when it fails."""
        return self._git(*args, what=what, at=at, stdin=stdin, env=env)

    def attempt(
        self, *args: str, at: Path | None = None, stdin: bytes | None = None, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        """Run git in the mirror (or in ``at``) and return what it did, failed or not (GitError: no git, a timeout)."""
        return self._run(*args, at=at, stdin=stdin, env=env)

    def _run(
        self,
        *args: str,
        local: bool = True,
        stdin: bytes | None = None,
        at: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:  # env: on top of this process's (an identity for commits)
        command = ["git", *(["-C", str(at or self.mirror)] if local else []), *args]
        environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GCM_INTERACTIVE": "never"}
        environment.update(env or {})
        environment["GIT_LITERAL_PATHSPECS"] = "1"  # "a[1].yaml" names that file, not a pattern that matches a1.yaml
        try:
            if stdin is not None:
                return subprocess.run(
                    command, capture_output=True, timeout=TIMEOUT_SECONDS, env=environment, input=stdin
                )
            return subprocess.run(
                command, capture_output=True, timeout=TIMEOUT_SECONDS, env=environment, stdin=subprocess.DEVNULL
            )
        except subprocess.TimeoutExpired:
            took = f"took over {TIMEOUT_SECONDS}s"
            raise GitError(f"git {args[0]} ({self.display}) {took}; is the host reachable?") from None
        except FileNotFoundError:
            raise GitError("the git command is not installed; install git 2.31 or later") from None

    def _batch(self, mode: str, objects: list[str]) -> bytes:
        """``git cat-file --batch[-check]`` over ``objects`` (one id a line)."""
        result = self._run("cat-file", mode, stdin="".join(f"{o}\n" for o in objects).encode())
        if result.returncode != 0:
            raise GitError(
                f"cannot read files from the mirror of {self.display} (git cat-file exit {result.returncode})"
            )
        return result.stdout

    def _rc(self, *args: str) -> int:
        return self._run(*args).returncode

    def _git(
        self,
        *args: str,
        what: str,
        local: bool = True,
        strip: bool = True,
        at: Path | None = None,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
    ) -> str:
        result = self._run(*args, local=local, at=at, stdin=stdin, env=env)
        out = result.stdout.decode("utf-8", "replace")
        if result.returncode != 0:
            lines = [line.strip() for line in result.stderr.decode("utf-8", "replace").splitlines() if line.strip()]
            fatal = [line for line in lines if line.startswith(("fatal:", "error:"))]
            shown = display_url((fatal or lines)[0]) if lines else f"exit {result.returncode}"
            raise GitError(f"cannot {what} ({self.display}): {shown}")
        return out.strip() if strip else out
