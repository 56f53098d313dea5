"""SOQL evaluation over the sandbox org: which records a query selects and how they are shaped."""

from __future__ import annotations

from typing import Any

from . import soql
from .org import Org, Record
from .wire import json_value


class QueryEngine:
    """Runs bound SOQL queries against :attr:`org` (shared by the REST and Bulk endpoints)."""

    org: Org

    def _compile(self, text: str) -> soql.Query:
        return soql.bind(soql.parse(text), self.org.objects)

    def _resolve(self, rec: Record, path: soql.Path) -> Any:
        current: Record | None = rec
        for ref in path.chain:
            if current is None:
                return None
            target = current.get(ref.name)
            current = self.org.get(target) if target else None
        if current is None:
            return None
        assert path.leaf is not None
        if path.leaf.name == "Type" and path.chain and path.chain[-1].polymorphic:
            located = self.org.locate(current["Id"])
            return located[0] if located else None
        return current.get(path.leaf.name)

    def run(self, query: soql.Query, include_deleted: bool) -> list[int]:
        """Indices of the records ``query`` selects, in its order, after LIMIT/OFFSET."""
        assert query.obj is not None
        hits: list[tuple[int, list[Any]]] = []
        now = self.org.clock
        for index, rec in self.org.iter_records(query.obj.name, include_deleted=include_deleted):
            if soql.matches(query.where, rec, self._resolve, now):
                hits.append((index, [self._resolve(rec, o.path) for o in query.order]))
        # stable sorts from the last ORDER BY item to the first; ties keep Id order
        for pos in range(len(query.order) - 1, -1, -1):
            item = query.order[pos]

            def key(hit: tuple[int, list[Any]], p: int = pos, it: soql.OrderItem = item) -> Any:
                return soql.sort_key(it, hit[1][p])

            hits.sort(key=key, reverse=item.descending)
        refs = [index for index, _ in hits]
        if query.offset:
            refs = refs[query.offset :]
        if query.limit is not None:
            refs = refs[: query.limit]
        return refs

    def project(self, rec: Record, query: soql.Query, version: str) -> dict[str, Any]:
        """One record of a query result: ``attributes``, then the selected fields in order."""
        assert query.obj is not None
        out: dict[str, Any] = {
            "attributes": {
                "type": query.obj.name,
                "url": f"/services/data/v{version}/sobjects/{query.obj.name}/{rec['Id']}",
            }
        }
        for path in query.fields:
            self._place(out, rec, path, 0, version)
        return out

    def _place(
        self, out: dict[str, Any], rec: Record | None, path: soql.Path, depth: int, version: str
    ) -> None:
        assert path.leaf is not None
        if depth == len(path.chain):
            if (
                path.leaf.name == "Type"
                and path.chain
                and path.chain[-1].polymorphic
                and rec is not None
            ):
                located = self.org.locate(rec["Id"])
                out["Type"] = located[0] if located else None
            else:
                out[path.leaf.name] = json_value(
                    rec.get(path.leaf.name) if rec else None, path.leaf
                )
            return
        ref = path.chain[depth]
        name = ref.relationship_name or ref.name
        if name in out and out[name] is None:
            return
        target_id = rec.get(ref.name) if rec else None
        target = self.org.get(target_id) if target_id else None
        if target is None:
            out[name] = None
            return
        nested = out.get(name)
        if nested is None:
            located = self.org.locate(target_id or "")
            kind = located[0] if located else "Name"
            nested = {
                "attributes": {
                    "type": "Name" if ref.polymorphic else kind,
                    "url": f"/services/data/v{version}/sobjects/{kind}/{target_id}",
                }
            }
            out[name] = nested
        self._place(nested, target, path, depth + 1, version)
