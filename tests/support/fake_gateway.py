"""An in-memory Kubernetes API server behind the services' `Gateway` (app/services/gateway.py), for
the service-layer tests: the services run as in the server, with no control plane.

It keeps what the API server keeps for the calls the services make, and no more: each object
gets a uid, a creationTimestamp and a resourceVersion from one counter; lists select by equality
label selectors (`key=value,key2=value2`, and `key` for a label's existence) and events by field selectors (`regarding.kind=K,
regarding.name=N`), come in the API server's order (namespace, then name), and page by `limit`
and an opaque `continue` token. It refuses as Kubernetes does: a create in a namespace that does
not exist or under a taken name, a read or delete of an absent object, and a replacement from a
stale resourceVersion (Conflict). Unlike Kubernetes, the pages of one list do not share one
snapshot, and nothing is proxied: `forward` and `send` are Unavailable. Of a pod's dry run
(`check_pod`) it keeps one rule of Kubernetes' validation, a toleration's operator, and notes each
pod it was asked about (`checked_pods`); with `may_create_pods` off it refuses them all (403), as
RBAC refuses an identity not granted `create` on `pods`, and with `may_read_secrets` off every
`get_secret` (403), as RBAC refuses one not granted `get` on `secrets`.
"""
from __future__ import annotations

import base64
import binascii
import copy
import json
import re
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn

import urllib3

from app.constants import CustomResource
from app.errors import AlreadyExists, Conflict, Forbidden, InvalidInput, NotFound, Unavailable
from app.k8s import Forwarded
from app.types import Json

Key = tuple[str, str]  # (namespace, name)
_LABEL_KEY = re.compile(r"[A-Za-z0-9][-A-Za-z0-9_./]*")  # an existence term of a label selector


class FakeGateway:
    """The namespaces given exist; objects of any resource (by its plural: "configmaps",
    "rayclusters", "events", ...) live in them. Tests plant what other clients write with `add`
    and `change`, and read what the server holds with `held`."""

    def __init__(self, *namespaces: str) -> None:
        self.namespaces = set(namespaces)
        self._objects: dict[str, dict[Key, Json]] = {}
        self._revision = 0  # the last write's
        self.checked_pods: list[tuple[str, Json]] = []  # (namespace, pod) of each dry run, in order
        self.may_create_pods = True
        self.may_read_secrets = True

    # -- what tests use, as another client of the API server ---------------------------------

    def add(self, resource: str, namespace: str, obj: Json) -> Json:
        """Create `obj` as any client would (kubectl, the operator)."""
        if namespace not in self.namespaces:
            raise NotFound(f'namespaces "{namespace}" not found')
        stored = copy.deepcopy(obj)
        stored["metadata"] = meta = dict(stored.get("metadata") or {})
        name = str(meta.get("name") or "")
        if not name:
            raise InvalidInput("metadata.name: Required value: name or generateName is required")
        if meta.get("namespace", namespace) != namespace:
            raise InvalidInput("the namespace of the provided object does not match the namespace sent on the request")
        if meta.get("resourceVersion"):
            raise InvalidInput("resourceVersion should not be set on objects to be created")
        held = self._objects.setdefault(resource, {})
        if (namespace, name) in held:
            raise AlreadyExists(f'{resource} "{name}" already exists')
        meta.update(namespace=namespace, uid=str(uuid.uuid4()), resourceVersion=self._next_revision(),
                    creationTimestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        held[(namespace, name)] = stored
        return copy.deepcopy(stored)

    def change(self, resource: str, namespace: str, name: str, edit: Callable[[Json], None]) -> Json:
        """Another writer's change (the operator writing a status): a new resourceVersion."""
        stored = self._stored(resource, namespace, name)
        edit(stored)
        stored["metadata"]["resourceVersion"] = self._next_revision()
        return copy.deepcopy(stored)

    def held(self, resource: str, namespace: str | None = None) -> list[Json]:
        """Every object of `resource` the server holds, in `namespace` (None: all), in list order."""
        held = self._objects.get(resource, {})
        return [copy.deepcopy(held[key]) for key in sorted(held) if namespace in (None, key[0])]

    # -- the Gateway ---------------------------------------------------------------------------

    def get_configmap(self, ns: str, name: str) -> Json:
        return copy.deepcopy(self._stored("configmaps", ns, name))

    def create_configmap(self, ns: str, body: Json) -> Json:
        return self.add("configmaps", ns, body)

    def delete_configmap(self, ns: str, name: str) -> Json:
        return self._delete("configmaps", ns, name)

    def list_configmaps(self, ns: str | None, label_selector: str) -> list[Json]:
        items: list[Json] = self._list("configmaps", ns, _labels_match(label_selector))["items"]
        return items

    def check_pod(self, ns: str, pod: Json) -> Json | None:
        if ns not in self.namespaces:
            raise NotFound(f'namespaces "{ns}" not found')
        self.checked_pods.append((ns, copy.deepcopy(pod)))
        if not self.may_create_pods:
            raise Forbidden(f'pods is forbidden: User "server" cannot create resource "pods" in API group "" in the '
                            f'namespace "{ns}"')
        causes = [
            {"reason": "FieldValueNotSupported", "field": f"spec.tolerations[{index}].operator",
             "message": f'Unsupported value: "{item["operator"]}": supported values: "Equal", "Exists"'}
            for index, item in enumerate(pod.get("spec", {}).get("tolerations") or [])
            if item.get("operator", "") not in ("", "Equal", "Exists")
        ]
        if not causes:
            return None
        return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Invalid", "code": 422,
                "message": "Pod is invalid", "details": {"kind": "Pod", "causes": causes}}

    def get_object(self, kind: CustomResource, ns: str, name: str) -> Json:
        return copy.deepcopy(self._stored(kind.plural, ns, name))

    def create_object(self, kind: CustomResource, ns: str, body: Json) -> Json:
        return self.add(kind.plural, ns, body)

    def replace_object(self, kind: CustomResource, ns: str, name: str, body: Json) -> Json:
        """As for a resource with a status subresource: the status stays the server's."""
        stored = self._stored(kind.plural, ns, name)
        replaced = copy.deepcopy(body)
        replaced["metadata"] = meta = dict(replaced.get("metadata") or {})
        if meta.get("name") != name:
            raise InvalidInput(f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})")
        if not meta.get("resourceVersion"):
            raise InvalidInput("metadata.resourceVersion: Invalid value: 0x0: must be specified for an update")
        if meta["resourceVersion"] != stored["metadata"]["resourceVersion"]:
            raise Conflict(f'Operation cannot be fulfilled on {kind.plural}.{kind.group} "{name}": the object has '
                           "been modified; please apply your changes to the latest version and try again")
        meta.update({key: stored["metadata"][key] for key in ("namespace", "uid", "creationTimestamp")})
        meta["resourceVersion"] = self._next_revision()
        replaced.pop("status", None)
        if "status" in stored:
            replaced["status"] = stored["status"]
        self._objects[kind.plural][(ns, name)] = replaced
        return copy.deepcopy(replaced)

    def patch_object(self, kind: CustomResource, ns: str, name: str, patch: Json) -> Json:
        """A JSON merge patch (RFC 7386) of the spec and metadata; the status stays the server's."""
        stored = self._stored(kind.plural, ns, name)
        patched = _merged(copy.deepcopy(stored), {key: value for key, value in patch.items() if key != "status"})
        patched["metadata"]["resourceVersion"] = self._next_revision()
        self._objects[kind.plural][(ns, name)] = patched
        return copy.deepcopy(patched)

    def delete_object(self, kind: CustomResource, ns: str, name: str) -> Json:
        return self._delete(kind.plural, ns, name)

    def list_objects(self, kind: CustomResource, ns: str | None, label_selector: str, limit: int = 0,
                     continue_token: str = "") -> Json:
        return self._list(kind.plural, ns, _labels_match(label_selector), limit, continue_token)

    def list_events(self, ns: str | None, field_selector: str = "") -> list[Json]:
        items: list[Json] = self._list("events", ns, _fields_match(field_selector))["items"]
        return items

    def get_service(self, ns: str, name: str) -> Json:
        return copy.deepcopy(self._stored("services", ns, name))

    def get_secret(self, ns: str, name: str) -> Json:
        if not self.may_read_secrets:
            raise Forbidden(f'secrets "{name}" is forbidden: User "server" cannot get resource "secrets" in API group '
                            f'"" in the namespace "{ns}"')
        return copy.deepcopy(self._stored("secrets", ns, name))

    def forward(self, method: str, target: str, headers: Mapping[str, str], body: bytes | None,
                read_timeout: float | None = None) -> Forwarded:
        _no_proxy()

    def send(self, name: str, method: str, target: str, headers: Mapping[str, str], body: bytes | None,
             timeout: float) -> urllib3.BaseHTTPResponse:
        _no_proxy()

    # -- the server's side ---------------------------------------------------------------------

    def _next_revision(self) -> str:
        self._revision += 1
        return str(self._revision)

    def _stored(self, resource: str, namespace: str, name: str) -> Json:
        try:
            return self._objects.get(resource, {})[(namespace, name)]
        except KeyError:
            raise NotFound(f'{resource} "{name}" not found') from None

    def _delete(self, resource: str, namespace: str, name: str) -> Json:
        """Without finalizers, gone at once: the answer is a Status, not the object."""
        gone = self._stored(resource, namespace, name)
        del self._objects[resource][(namespace, name)]
        details = {"name": name, "kind": resource, "uid": gone["metadata"]["uid"]}
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details}

    def _list(self, resource: str, namespace: str | None, selected: Callable[[Json], bool], limit: int = 0,
              continue_token: str = "") -> Json:
        after = _continued_after(continue_token) if continue_token else None
        held = self._objects.get(resource, {})
        keys = [key for key in sorted(held) if namespace in (None, key[0]) and (after is None or key > after)]
        items = [copy.deepcopy(held[key]) for key in keys if selected(held[key])]
        meta: Json = {"resourceVersion": str(self._revision)}
        if limit and len(items) > limit:
            items = items[:limit]
            last = items[-1]["metadata"]
            meta["continue"] = _continue_token(last["namespace"], last["name"])
        return {"kind": "List", "apiVersion": "v1", "metadata": meta, "items": items}


def _no_proxy() -> NoReturn:
    raise Unavailable("Kubernetes API server unavailable: the fake gateway proxies to nothing")


def _continue_token(namespace: str, name: str) -> str:
    """Opaque to clients, as Kubernetes' (base64 of a JSON object naming where the next page starts)."""
    start = json.dumps({"v": "meta.k8s.io/v1", "start": [namespace, name]}).encode()
    return base64.urlsafe_b64encode(start).decode()


def _continued_after(token: str) -> Key:
    try:
        value = json.loads(base64.urlsafe_b64decode(token.encode()))
        namespace, name = value["start"]
        return str(namespace), str(name)
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise InvalidInput(f"continue key is not valid: {exc}") from None


def _merged(target: Json, patch: Json) -> Json:
    """RFC 7386: objects merge key by key, null removes, anything else replaces."""
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            target[key] = _merged(target[key], value)
        else:
            target[key] = copy.deepcopy(value)
    return target


def _equalities(selector: str) -> list[tuple[str, str]]:
    """`a=b,c==d` as (key, value) pairs; other forms (`!=`, `in`, existence) are not what the
    services send, and the fake does not read them."""
    pairs = []
    for term in filter(None, selector.split(",")):
        key, equals, value = term.partition("=")
        value = value.removeprefix("=")
        if not equals or not key or key.endswith("!") or "=" in value:
            raise ValueError(f"the fake gateway reads only key=value selectors, not {term!r}")
        pairs.append((key, value))
    return pairs


def _labels_match(selector: str) -> Callable[[Json], bool]:
    """Equalities, and existence (`key`: the label is there, whatever its value)."""
    terms = list(filter(None, selector.split(",")))
    present = [term for term in terms if _LABEL_KEY.fullmatch(term)]
    wanted = _equalities(",".join(term for term in terms if term not in present))

    def match(obj: Json) -> bool:
        labels = obj["metadata"].get("labels") or {}
        return all(key in labels for key in present) and all(labels.get(key) == value for key, value in wanted)
    return match


def _fields_match(selector: str) -> Callable[[Json], bool]:
    wanted = [(key.split("."), value) for key, value in _equalities(selector)]

    def match(obj: Json) -> bool:
        return all(_field(obj, path) == value for path, value in wanted)
    return match


def _field(obj: Json, path: list[str]) -> Any:
    value: Any = obj
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return "" if value is None else value
