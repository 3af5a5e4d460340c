"""``GitRepo.last_commits`` (one walk for many files) names what ``git log -1 TIP -- FILE`` names, file by file.

Histories are generated with ``git fast-import``: branches, merges that take either side or new
content, octopus merges, a second root, deletions and re-additions, the same content on two
branches, mode changes, a file becoming a folder, and commit dates that tie or go backwards.
"""

from __future__ import annotations

import random
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from rollout.gitops.repo import CommitInfo, GitRepo

FILES = ("e/a.yaml", "e/b.yaml", "e/c.yaml", "e/d/x.yaml", "e/d.yaml", "readme.md")
CONTENTS = ("one\n", "two\n", "three\n")


@dataclass
class Node:
    mark: int
    tree: dict[str, tuple[str, str]]  # path -> (mode, content)


def _tree(rng: random.Random, base: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    tree = dict(base)
    for path in rng.sample(FILES, rng.randint(1, 3)):
        roll = rng.random()
        if roll < 0.2:
            tree.pop(path, None)
        elif roll < 0.3 and path in tree:
            mode, content = tree[path]
            tree[path] = ("100755" if mode == "100644" else "100644", content)
        else:
            tree[path] = ("100644", rng.choice(CONTENTS))
    if "e/d.yaml" in tree and any(p.startswith("e/d/") for p in tree):  # a file and a folder of one name
        tree.pop(rng.choice(["e/d.yaml", "e/d/x.yaml"]), None)
    return tree


def _history(rng: random.Random, commits: int) -> tuple[str, list[Node]]:
    """A fast-import stream and its commits (marks 1..commits), each on its own ref."""
    nodes: list[Node] = []
    lines: list[str] = []
    for mark in range(1, commits + 1):
        parents: list[Node] = []
        if nodes and mark != commits // 2:  # one more root half-way
            parents.append(rng.choice(nodes[-6:]) if rng.random() < 0.7 else rng.choice(nodes))
            if rng.random() < 0.35:
                others = [n for n in nodes if n is not parents[0]]
                parents += rng.sample(others, min(len(others), 2 if rng.random() < 0.15 else 1))
        if len(parents) > 1:  # a merge: per file, one side's version, or new content
            tree: dict[str, tuple[str, str]] = {}
            for path in FILES:
                side = rng.choice(parents).tree.get(path)
                if side is not None:
                    tree[path] = side
            if rng.random() < 0.3:
                tree = _tree(rng, tree)
            if "e/d.yaml" in tree and any(p.startswith("e/d/") for p in tree):
                tree.pop("e/d.yaml")
        else:
            tree = _tree(rng, parents[0].tree if parents else {})
        when = 1_700_000_000 + rng.choice([0, 0, 60, mark * 60, -mark * 30])  # ties and skew
        lines += [f"commit refs/heads/c{mark}", f"mark :{mark}"]
        lines += [f"{who} Ann <ann@example.com> {when} +0000" for who in ("author", "committer")]
        message = f"commit {mark}\n\nbody of {mark}  \n"
        lines += [f"data {len(message.encode())}", message.rstrip("\n")]
        lines += [f"from :{parents[0].mark}"] if parents else []
        lines += [f"merge :{p.mark}" for p in parents[1:]]
        lines.append("deleteall")
        for path, (mode, content) in sorted(tree.items()):
            lines += [f"M {mode} inline {path}", f"data {len(content)}", content.rstrip("\n")]
        lines.append("")
        nodes.append(Node(mark, tree))
    return "\n".join(lines) + "\n", nodes


def _git(repo: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(["git", "-C", str(repo), *args], input=stdin, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _repo(tmp_path: Path, seed: int, commits: int) -> tuple[GitRepo, list[str]]:
    repo = GitRepo(str(tmp_path / "origin-unused"), tmp_path / "work")
    repo.mirror.mkdir(parents=True)
    _git(repo.mirror, "init", "--quiet", "--bare")
    stream, nodes = _history(random.Random(seed), commits)
    _git(repo.mirror, "fast-import", "--quiet", stdin=stream)
    return repo, [_git(repo.mirror, "rev-parse", f"refs/heads/c{n.mark}") for n in nodes]


def _one_by_one(repo: GitRepo, tip: str, paths: list[str]) -> dict[str, CommitInfo]:
    return {path: repo.last_commit(tip, path) for path in paths}


@pytest.mark.parametrize("seed", range(6))
def test_one_walk_names_for_every_file_the_commit_git_log_names_for_it_alone(
    tmp_path: Path, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, shas = _repo(tmp_path, seed, commits=40)
    rng = random.Random(seed)
    alone: list[str] = []
    for tip in rng.sample(shas, 12):
        paths = sorted(repo.files(tip, "e"))
        expected = _one_by_one(repo, tip, paths)
        with monkeypatch.context() as patch:
            patch.setattr(repo, "last_commit", lambda t, p: alone.append(p) or CommitInfo("", "", ""))
            assert repo.last_commits(tip, paths, "e") == expected
    assert alone == [], "a walk of the whole history resolves every file itself"


@pytest.mark.parametrize("seed", range(6, 10))
def test_a_walk_since_an_earlier_commit_names_the_same_commits_asking_git_alone_for_what_lies_behind(
    tmp_path: Path, seed: int
) -> None:
    repo, shas = _repo(tmp_path, seed, commits=40)
    rng = random.Random(seed)
    for tip in rng.sample(shas, 10):
        paths = sorted(repo.files(tip, "e"))
        behind = [s for s in shas if s != tip and repo.is_ancestor(s, tip)]
        since = rng.choice(behind) if behind else None
        assert repo.last_commits(tip, paths, "e", since) == _one_by_one(repo, tip, paths)


def test_the_whole_repository_and_a_single_file_as_the_watched_path(tmp_path: Path) -> None:
    repo, shas = _repo(tmp_path, 11, commits=30)
    tip = shas[-1]
    everything = sorted(repo.files(tip, ""))
    assert repo.last_commits(tip, everything) == _one_by_one(repo, tip, everything)
    for path in everything:
        assert repo.last_commits(tip, [path], path) == _one_by_one(repo, tip, [path])
