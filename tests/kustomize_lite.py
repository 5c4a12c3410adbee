"""A small renderer for the Kustomize features ``deploy/k8s`` uses, so the manifests can be checked
on machines without ``kubectl`` (the test compares it with ``kubectl kustomize`` where that exists).

Supported: ``resources`` (files and folders), ``namespace``, ``labels`` (metadata only),
``images`` (newName/newTag) and ``patches`` given by ``path`` (strategic merge: maps merge, lists of
named items merge by ``name``, other lists are replaced).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

CLUSTER_SCOPED = {"Namespace", "PersistentVolume", "ClusterRole", "ClusterRoleBinding"}


def render(folder: Path) -> list[dict[str, Any]]:
    """The resources a kustomization folder produces."""
    spec = yaml.safe_load((folder / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        target = folder / entry
        if target.is_dir():
            docs.extend(render(target))
        else:
            docs.extend(d for d in yaml.safe_load_all(target.read_text()) if d)
    for patch in spec.get("patches", []):
        change = yaml.safe_load((folder / patch["path"]).read_text())
        matches = [d for d in docs if _key(d) == _key(change)]
        assert len(matches) == 1, f"patch {patch['path']} matches {len(matches)} resources"
        merged = _merge(matches[0], change)
        docs[docs.index(matches[0])] = merged
    for doc in docs:
        for group in spec.get("labels", []):
            doc["metadata"].setdefault("labels", {}).update(group["pairs"])
        if spec.get("namespace") and doc["kind"] not in CLUSTER_SCOPED:
            doc["metadata"]["namespace"] = spec["namespace"]
        for image in spec.get("images", []):
            _retag(doc, image)
    return docs


def _key(doc: dict[str, Any]) -> tuple[str, str]:
    return doc["kind"], doc["metadata"]["name"]


def _merge(base: Any, change: Any) -> Any:
    if isinstance(base, dict) and isinstance(change, dict):
        out = copy.deepcopy(base)
        for k, v in change.items():
            out[k] = _merge(base[k], v) if k in base else copy.deepcopy(v)
        return out
    if isinstance(base, list) and isinstance(change, list) and all(_named(x) for x in base + change):
        out = copy.deepcopy(base)
        for item in change:
            same = [i for i, b in enumerate(out) if b["name"] == item["name"]]
            if same:
                out[same[0]] = _merge(out[same[0]], item)
            else:
                out.append(copy.deepcopy(item))
        return out
    return copy.deepcopy(change)


def _named(item: Any) -> bool:
    return isinstance(item, dict) and "name" in item


def _retag(node: Any, image: dict[str, str]) -> None:
    if isinstance(node, dict):
        if node.get("image") == image["name"]:
            node["image"] = f"{image.get('newName', image['name'].split(':')[0])}:{image['newTag']}"
        for value in node.values():
            _retag(value, image)
    elif isinstance(node, list):
        for value in node:
            _retag(value, image)
