"""Wrappers around the Firestore client's generated API object, the edge of the process.

Every RPC of `google.cloud.firestore.Client` goes through `client._firestore_api`, so a
wrapper installed there receives the real requests and responses. It can fail a commit on
purpose, or count billed reads and writes, without changing the code under test.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from google.cloud import firestore


def install(client: firestore.Client, wrapper_type: type[Any], *args: Any) -> Any:
    """Wrap the client's API object in `wrapper_type(api, *args)` and return the wrapper."""
    wrapper = wrapper_type(client._firestore_api, *args)
    client._firestore_api_internal = wrapper
    return wrapper


class FaultyCommits:
    """Fails commits by plan: "abort" before the commit, "unavailable" after it succeeded."""

    def __init__(self, api: Any, plan: list[str]) -> None:
        self._api = api
        self._plan = list(plan)
        self.commits = 0

    def commit(self, *args: Any, **kwargs: Any) -> Any:
        from google.api_core import exceptions

        self.commits += 1
        step = self._plan.pop(0) if self._plan else "pass"
        if step == "abort":
            raise exceptions.Aborted("Injected abort before commit.")
        response = self._api.commit(*args, **kwargs)
        if step == "unavailable":
            raise exceptions.ServiceUnavailable("Injected failure after a successful commit.")
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)


class CountingApi:
    """Counts document reads and writes as Firestore bills them.

    A document lookup costs one read, whether or not the document exists. A query costs one
    read per returned document and at least one. A commit costs one write per write in it.
    """

    def __init__(self, api: Any) -> None:
        self._api = api
        self.reads = 0
        self.writes = 0

    def reset(self) -> tuple[int, int]:
        counts = (self.reads, self.writes)
        self.reads = self.writes = 0
        return counts

    def batch_get_documents(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for response in self._api.batch_get_documents(*args, **kwargs):
            if response.found or response.missing:
                self.reads += 1
            yield response

    def run_query(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        returned = 0
        for response in self._api.run_query(*args, **kwargs):
            if response.document:
                returned += 1
            yield response
        self.reads += max(1, returned)

    def run_aggregation_query(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        # NOTE: billed as one read per 1000 index entries counted; the counts measured here
        # stay far below that, so each aggregation counts as one read.
        self.reads += 1
        yield from self._api.run_aggregation_query(*args, **kwargs)

    def commit(self, *args: Any, **kwargs: Any) -> Any:
        request = kwargs.get("request", args[0] if args else None)
        writes = request["writes"] if isinstance(request, dict) else request.writes
        self.writes += len(writes)
        return self._api.commit(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)
