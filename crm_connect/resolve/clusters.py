"""Clusters: connected components over the accepted links, with ids that stay put.

Links are taken strongest first (decisions, then rules, then the model by probability); a link
that would put two records a reviewer said are different into one cluster is refused.  A
cluster keeps the id it had in the previous run when its members held one (the id most of them
held; a cluster that split keeps it for its largest part); a new cluster's id is a hash of its
smallest (source, id) member.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from crm_connect.resolve.links import Link

__all__ = ["cluster_ids", "connected_components"]


class _Forest:
    """Union-find with path halving, and per root the records it must never join."""

    def __init__(self, size: int, cannot: Iterable[tuple[int, int]]) -> None:
        self.parent = list(range(size))
        self.forbidden: dict[int, set[int]] = {}
        for left, right in cannot:
            self.forbidden.setdefault(left, set()).add(right)
            self.forbidden.setdefault(right, set()).add(left)

    def find(self, node: int) -> int:
        parent = self.parent
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def union(self, left: int, right: int) -> bool:
        """Join the two records' clusters; ``False`` when a decision forbids it."""
        a, b = self.find(left), self.find(right)
        if a == b:
            return True
        banned_a, banned_b = self.forbidden.get(a), self.forbidden.get(b)
        if banned_a and any(self.find(x) == b for x in banned_a):
            return False
        if banned_b and any(self.find(x) == a for x in banned_b):
            return False
        self.parent[b] = a
        if banned_b:
            self.forbidden.setdefault(a, set()).update(banned_b)
        return True


def connected_components(size: int, links: Sequence[Link],
                         cannot: Iterable[tuple[int, int]] = ()
                         ) -> tuple[list[int], list[Link]]:
    """The root of each record's cluster, and the links refused by a no-match decision."""
    forest = _Forest(size, cannot)
    refused = [link for link in links if not forest.union(link.left, link.right)]
    return [forest.find(node) for node in range(size)], refused


def _new_id(entity: str, member: tuple[str, str]) -> str:
    digest = hashlib.sha256(f"{entity}\x1f{member[0]}\x1f{member[1]}".encode()).hexdigest()
    return f"{entity[0]}-{digest[:16]}"


def cluster_ids(entity: str, roots: Sequence[int], members: Sequence[tuple[str, str]],
                previous: Mapping[tuple[str, str], str]) -> list[str]:
    """A cluster id for each record, reusing the previous run's ids where they still fit."""
    groups: dict[int, list[int]] = {}
    for position, root in enumerate(roots):
        groups.setdefault(root, []).append(position)
    taken: set[str] = set()
    named: dict[int, str] = {}
    for root, group in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])):
        ids = [cid for cid in (previous.get(members[p]) for p in group) if cid is not None]
        if ids and ids.count(ids[0]) == len(ids):  # the usual case: all held one id
            choice = ids[0] if ids[0] not in taken else None
        else:
            held = Counter(ids)
            choice = next((cid for cid, _ in sorted(held.items(), key=lambda x: (-x[1], x[0]))
                           if cid not in taken), None)
        if choice is None:
            smallest = min(members[p] for p in group)
            choice = _new_id(entity, smallest)
            salt = 0
            while choice in taken:
                salt += 1
                choice = _new_id(entity, (smallest[0], f"{smallest[1]}#{salt}"))
        taken.add(choice)
        named[root] = choice
    return [named[root] for root in roots]
