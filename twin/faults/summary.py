"""The manifest's fault counts: faults injected (by kind) and the runner's actions (by action)."""

from __future__ import annotations


def fault_summary(events: list[dict]) -> dict:
    """Counts for the manifest: faults injected (by kind) and the runner's actions (by action)."""
    injected: dict[str, int] = {}
    actions: dict[str, int] = {}
    for e in events:
        if e["action"] == "injected":
            injected[e["kind"]] = injected.get(e["kind"], 0) + 1
        else:
            actions[e["action"]] = actions.get(e["action"], 0) + 1
    return {"injected": dict(sorted(injected.items())), "injected_total": sum(injected.values()),
            "actions": dict(sorted(actions.items()))}
