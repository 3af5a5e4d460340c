"""Which commit each file came from, for many files out of one ``git log`` walk. Pure: git's output in, commits out.

The answer for a file is what ``git log -1 TIP -- FILE`` names (``GitRepo.last_commit``): git's
default history simplification walks from the tip, and at each commit that leaves the file as one
of its parents had it, goes on to the first such parent (a merge follows the side the file came
from; an unchanged commit is skipped); the first commit that no parent left the file as is the
answer (a change, an add, a merge that combined both sides, or a root commit that has the file).
That walk is one chain per file: its order does not depend on commit dates.

The walk here reads every commit once (``WALK_OPTIONS``: all commits, children first, each with
its diff against its first parent, merges included) and follows every file's chain through them
at once. Whether a merge's later parent holds the same content is read off that parent's own
first-parent line. A chain that leaves the commits read (a range ``TIP ^OLD``) is left unresolved,
for the caller to ask git about that file alone.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

# git log options for the walk: every commit (no simplification, none hidden), children before
# parents, each with its raw diff against its first parent (a root against the empty tree).
WALK_OPTIONS = (
    "--topo-order",
    "--full-history",
    "--sparse",
    "--root",
    "--diff-merges=first-parent",
    "--raw",
    "--no-abbrev",
    "--no-renames",
    "--no-color",
    "-z",
    "--format=%x01%H %P%x00%an <%ae>%x00%B%x00",
)
MESSAGE_LIMIT = 2000

Entry = tuple[str, str] | None  # (mode, object id) of a path in a commit; None: absent


@dataclass(frozen=True)
class WalkedCommit:
    sha: str
    parents: tuple[str, ...]
    author: str
    message: str  # stripped and cut to MESSAGE_LIMIT, as ``GitRepo.commit`` gives it
    changed: dict[str, Entry] = field(
        default_factory=dict
    )  # wanted path -> its entry, where the first-parent diff has it


class Unresolved(Exception):
    """A chain reached a commit the walk did not read."""


def parse_walk(out: bytes, wanted: Collection[str]) -> tuple[list[WalkedCommit], dict[str, WalkedCommit]]:
    """The commits of a ``WALK_OPTIONS`` log in its order, and by sha; only ``wanted`` paths' changes are kept."""
    order = list(_records(out, wanted))
    return order, {c.sha: c for c in order}


def _records(out: bytes, wanted: Collection[str]) -> Iterator[WalkedCommit]:
    at, end = 0, len(out)
    while True:
        at = out.find(b"\x01", at)
        if at < 0:
            return
        head_end = out.index(b"\0", at)
        author_end = out.index(b"\0", head_end + 1)
        message_end = out.index(b"\0", author_end + 1)
        sha, *parents = out[at + 1 : head_end].decode("ascii").split()
        author = out[head_end + 1 : author_end].decode("utf-8", "replace")
        message = out[author_end + 1 : message_end].decode("utf-8", "replace").strip()[:MESSAGE_LIMIT]
        changed: dict[str, Entry] = {}
        at = message_end + 1
        while at < end and out[at] in b"\0\n":  # the record's terminator, and the line before its diff
            at += 1
        while at < end and out[at] == ord(":"):  # ":old-mode new-mode old-id new-id STATUS\0path\0"
            meta_end = out.index(b"\0", at)
            path_end = out.index(b"\0", meta_end + 1)
            path = out[meta_end + 1 : path_end].decode("utf-8", "replace")
            if path in wanted:
                _, mode, _, oid, _ = out[at + 1 : meta_end].decode("ascii").split(" ")
                changed[path] = None if set(mode) == {"0"} else (mode, oid)
            at = path_end + 1
        yield WalkedCommit(sha, tuple(parents), author, message, changed)


def last_changes(
    order: list[WalkedCommit], commits: dict[str, WalkedCommit], tip: str, paths: Collection[str]
) -> dict[str, WalkedCommit]:
    """For each of ``paths`` (all present at ``tip``), the commit ``git log -1 tip -- path`` names;
    paths whose chain leaves the walked commits are left out."""
    found: dict[str, WalkedCommit] = {}
    at: dict[str, set[str]] = {tip: set(paths)}  # commit -> the paths whose chain stands there
    for commit in order:  # children before parents: every chain reaches a commit before it is read
        here = at.pop(commit.sha, None)
        if not here:
            continue
        if not commit.parents:  # a root commit with the file: shown
            found.update(dict.fromkeys(here, commit))
            continue
        stays = [p for p in commit.changed if p in here]  # not as the first parent had it
        here.difference_update(stays)
        _move(at, commit.parents[0], here)
        for path in stays:
            try:
                side = _side_parent(commits, commit, path)
            except Unresolved:
                continue  # left out: the caller asks git about this file alone
            if side is None:
                found[path] = commit
            else:
                _move(at, side, {path})
    return found


def _move(at: dict[str, set[str]], sha: str, paths: set[str]) -> None:
    if not paths:
        return
    there = at.get(sha)
    if there is None:
        at[sha] = paths
    elif len(there) >= len(paths):
        there.update(paths)
    else:
        paths.update(there)
        at[sha] = paths


def _side_parent(commits: dict[str, WalkedCommit], merge: WalkedCommit, path: str) -> str | None:
    """The first later parent of ``merge`` that has ``path`` as the merge has it (git follows it), or None.
    Unresolved when a parent's content cannot be told from the walk."""
    mine = merge.changed[path]
    for parent in merge.parents[1:]:
        if entry(commits, parent, path) == mine:
            return parent
    return None


def entry(commits: dict[str, WalkedCommit], sha: str, path: str) -> Entry:
    """``path`` in commit ``sha``, from the first-parent line's newest change to it; Unresolved past the walk."""
    while True:
        commit = commits.get(sha)
        if commit is None:
            raise Unresolved(sha)
        if path in commit.changed:
            return commit.changed[path]
        if not commit.parents:
            return None
        sha = commit.parents[0]
