"""The rules of a request that no schema of openapi/kuberay.yaml can state, applied to generated ones.

A request that fits the spec may still be refused with 400 for a rule the spec can only document
(the 400 answers of the create and list operations list them): the body's namespace is the path's,
a compute template it names exists, replicas are ordered, a token is one the server issued, ...
`Steering.before_call` makes each generated request keep those rules, and nothing more, so that a
request that fits the spec must be accepted (schemathesis' `positive_data_acceptance`), and so that
objects really get created, read, replaced and deleted. It only rewrites values that already fit
their schema: a value that does not (a negative case) is left to be refused.

`Steering.after_call` learns what exists (objects, page tokens) from the answers. Choices among
existing objects depend only on the generated values, so that a seeded run repeats itself.
"""
from __future__ import annotations

import re
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import yaml

from app.errors import InvalidInput
from app.http.validators import ParameterSchemaValidator
from app.translate.cluster.groups import HEAD_ENV, WORKER_ENV
from app.types import Json
from app.validation.cluster import check_auth_version
from app.validation.cronjobs import CLUSTER_SELECTOR_KEY
from app.validation.job_submissions import BAD_ID, MAX_ID_BYTES
from app.validation.schedule import ScheduleError, check_zone
from tests.support.ray_head import RAY_HEAD_RESOURCES

RESOURCES = ("compute_templates", "clusters", "jobs", "services", "jobsubmissions", "cronjobs")
NAME_SCHEMAS = {"compute_templates": "ComputeTemplateNameField", "clusters": "ClusterNameField",
                "jobs": "JobNameField", "services": "ServiceNameField", "cronjobs": "CronJobNameField"}
# Cron jobs are created with a schedule whose next time is months away, whatever was generated, so
# that the operator makes no RayJob during the run (a generated `* * * * *` would make one a minute).
FAR_SCHEDULES = ("@yearly", "@annually", "0 0 1 1 *", "30 4 29 feb *")
# At most this many workers per group and groups per cluster: far below the server's limit on
# the sum of maxReplicas, and the test cluster's operator creates every pod asked for.
MAX_REPLICAS = 2
MAX_GROUPS = 4
# Job submissions run on this machine's Ray head: every generated job is this harmless command,
# asks for no more than the head has (so none waits for resources), and its id is new.
ENTRYPOINT = "true"
TOKEN_RAY = "2.60.0"  # a Ray with token authentication (2.52.0 and later)
RUNTIME_ENV = "env_vars: {CONTRACT: run}"
[RAY_RESOURCE] = RAY_HEAD_RESOURCES  # a custom resource the tests' Ray head has
# Kubernetes keeps a list's continue token for a few minutes (etcd compaction); use fresh ones only.
TOKEN_LIFETIME = 60.0
EPHEMERAL = (2, "EPHEMERAL")
EMPTY_DIR = (5, "EMPTY_DIR")
HEAD_ENV_NAMES = frozenset(variable["name"] for variable in HEAD_ENV)
WORKER_ENV_NAMES = frozenset(variable["name"] for variable in WORKER_ENV)
# An annotation key: an optional DNS subdomain prefix and '/', then a name (Kubernetes'
# IsQualifiedName, which ValidateAnnotations applies to the lower-cased key).
_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
_QUALIFIED_NAME = re.compile(rf"({_SUBDOMAIN}/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")


def pick(choices: Iterable[str], seed: Any) -> str | None:
    """One of `choices`, always the same for the same `seed` (a generated value)."""
    ordered = sorted(choices)
    return ordered[zlib.crc32(repr(seed).encode()) % len(ordered)] if ordered else None


def coin(seed: Any) -> bool:
    """Heads or tails, always the same for the same `seed`."""
    return zlib.crc32(repr(seed).encode()) % 2 == 0


def resource_of(path: str) -> str:
    parts = path.split("/")
    return parts[3] if parts[1] == "namespaces" else parts[1]


class Steering:
    """The state of one run: its namespace, a compute template, and what exists."""

    def __init__(self, spec: Mapping[str, Any], namespace: str, template: str, cluster: str = "",
                 finish: Callable[[str], None] = lambda submission_id: None) -> None:
        """`cluster` is a ready cluster that job submissions go to, never deleted by the run;
        `finish(submission_id)` waits until that job has ended (the dashboard deletes only those)."""
        self.schemas = spec["components"]["schemas"]
        self.namespace = namespace
        self.template = template  # created before the run, never deleted by it
        self.cluster = cluster
        self.finish = finish
        self.existing: dict[str, set[str]] = {resource: set() for resource in RESOURCES}
        self.existing["compute_templates"].add(template)
        if cluster:
            self.existing["clusters"].add(cluster)
        self.submitted = 0  # makes every submission id new
        self.tokens: dict[str, tuple[str, float]] = {}  # operation label -> (token, when)

    def fits(self, schema: str, value: Any) -> bool:
        """Whether `value` fits a schema of the spec, as the server reads it."""
        return bool(ParameterSchemaValidator(self.schemas[schema]).is_valid(value))

    # -- the hooks ---------------------------------------------------------------------------

    def before_call(self, context: Any, case: Any, kwargs: Any) -> None:
        method, path = case.operation.method.upper(), case.operation.path
        resource = resource_of(path)
        if case.path_parameters and "name" in case.path_parameters:
            self._aim(case, method, resource)
        if case.path_parameters and "clustername" in case.path_parameters:
            self._aim_submission(case, method)
        if case.query:
            self._token(case)
        if isinstance(case.body, dict) and method in ("POST", "PUT"):
            body = case.body
            self._namespace(body)
            if method == "POST" and resource in NAME_SCHEMAS:
                self._fresh_name(body, resource)
            if resource == "jobsubmissions":
                self._submission(body)
            elif resource == "clusters":
                self._cluster_spec(body.get("clusterSpec"), body.get("envs"))
                self._envs(body.get("envs"), HEAD_ENV_NAMES | WORKER_ENV_NAMES)
                self._annotation_keys(body, "annotations")
            elif resource == "jobs":
                self._cluster_spec(body.get("clusterSpec"), None)
                self._annotation_keys(body, "metadata")
            elif resource == "cronjobs":
                self._cluster_spec(body.get("clusterSpec"), None)
                self._annotation_keys(body, "metadata")
                self._cron(body)
            elif resource == "services":
                self._cluster_spec(body.get("clusterSpec"), None)
                self._serve_graph(body.get("serveDeploymentGraphSpec"))
                if method == "PUT":
                    self._same_name(case, body)
            if resource in ("clusters", "jobs", "cronjobs", "services"):
                _auth_version(body)

    def after_call(self, context: Any, case: Any, response: Any) -> None:
        if response.status_code != 200:
            return
        method, resource = case.operation.method.upper(), resource_of(case.operation.path)
        if resource == "jobsubmissions":
            if method == "POST" and isinstance(case.body, dict):
                self.existing[resource].add(response.json()["submissionId"])
            elif method == "DELETE":
                self.existing[resource].discard(case.path_parameters["submissionid"])
        elif method == "POST" and isinstance(case.body, dict):
            self.existing[resource].add(case.body["name"])
        elif method == "DELETE":
            self.existing[resource].discard(case.path_parameters["name"])
        elif method == "GET" and "name" not in (case.path_parameters or {}):
            answer = response.json()
            token = answer.get("continue") or answer.get("nextPageToken")
            if token:
                self.tokens[case.operation.label] = (token, time.monotonic())

    # -- the rules ---------------------------------------------------------------------------

    def _aim(self, case: Any, method: str, resource: str) -> None:
        """Reads, replacements and deletes aim at an existing object every other time; a delete
        never at the compute template that the node groups of the run refer to, nor at the cluster
        that job submissions go to."""
        name = case.path_parameters["name"]
        if not self.fits("ObjectName", name):
            return
        kept = {self.template, self.cluster} if method == "DELETE" else set()
        choices = self.existing[resource] - kept
        if coin(name) and choices:
            case.path_parameters["name"] = pick(choices, name)
        elif name in kept:
            case.path_parameters["name"] = f"{name}-not"

    def _aim_submission(self, case: Any, method: str) -> None:
        """Job submissions go to the ready cluster every other time, and a job's calls to an existing
        job every other time; a delete waits for its job to end, since Ray deletes only ended jobs."""
        parameters = case.path_parameters
        name = parameters["clustername"]
        if self.cluster and self.fits("ObjectName", name) and coin(name):
            parameters["clustername"] = self.cluster
        submission_id = parameters.get("submissionid")
        if not (isinstance(submission_id, str) and submission_id):
            return
        if coin(submission_id) and self.existing["jobsubmissions"]:
            submission_id = parameters["submissionid"] = pick(self.existing["jobsubmissions"], submission_id)
        if method == "DELETE" and submission_id in self.existing["jobsubmissions"]:
            self.finish(submission_id)

    def _submission(self, body: Json) -> None:
        """The job is ENTRYPOINT with a safe runtime environment, asks for resources the head has (a
        job asking for others would wait for them for ever), and its id, when given, is new and
        short enough for Ray's file names. Amounts that break the schema are left to be refused."""
        if isinstance(body.get("entrypoint"), str) and body["entrypoint"].strip():
            body["entrypoint"] = ENTRYPOINT
        for key in ("runtimeEnv", "runtime_env"):
            if isinstance(body.get(key), str):
                body[key] = RUNTIME_ENV if coin(body[key]) else ""
        for key in ("entrypointNumCpus", "entrypoint_num_cpus", "entrypointNumGpus", "entrypoint_num_gpus"):
            if isinstance(body.get(key), (int, float)) and not isinstance(body[key], bool) and body[key] >= 0:
                body[key] = 0.1 if "Cpus" in key or "cpus" in key else 0
        resources = self.schemas["RayJobSubmissionRequest"]["allOf"][1]["properties"]["entrypointResources"]
        for key in ("entrypointResources", "entrypoint_resources"):
            if isinstance(body.get(key), dict) and ParameterSchemaValidator(resources).is_valid(body[key]):
                body[key] = {RAY_RESOURCE: "0.1"} if coin(repr(body[key])) else {}
        for key in ("submissionId", "submission_id"):
            value = body.get(key)
            if isinstance(value, str) and value and not BAD_ID.search(value):
                self.submitted += 1
                suffix = f"-{self.submitted}"
                body[key] = value.encode()[: MAX_ID_BYTES - len(suffix)].decode(errors="ignore") + suffix

    def _token(self, case: Any) -> None:
        """A token is one that Kubernetes issued for this list and still keeps, or none."""
        for key in ("continue", "pageToken"):
            value = case.query.get(key)
            if isinstance(value, str) and value and self.fits("ContinueToken", value):
                token, when = self.tokens.get(case.operation.label, ("", 0.0))
                if token and time.monotonic() - when < TOKEN_LIFETIME:
                    case.query[key] = token
                else:
                    del case.query[key]

    def _namespace(self, body: Json) -> None:
        if body.get("namespace") and self.fits("NamespaceName", body["namespace"]):
            body["namespace"] = self.namespace

    def _fresh_name(self, body: Json, resource: str) -> None:
        """Generated names repeat (`a`, `b`): every other create of an existing name gets a new
        one, so that more objects get created, and the others meet the 409."""
        name, schema = body.get("name"), NAME_SCHEMAS[resource]
        if not (isinstance(name, str) and name in self.existing[resource] and coin((name, body))):
            return
        stem = name[: self.schemas[schema]["maxLength"] - 4].rstrip("-.")
        for n in range(1, 1000):
            fresh = f"{stem}-{n}"
            if fresh not in self.existing[resource] and self.fits(schema, fresh):
                body["name"] = fresh
                return

    def _same_name(self, case: Any, body: Json) -> None:
        """A replacement names the service of its path, often one that exists."""
        name = body.get("name")
        if not (isinstance(name, str) and self.fits("ServiceNameField", name)):
            return
        if coin(name) and self.existing["services"]:
            name = body["name"] = pick(self.existing["services"], name)
        case.path_parameters["name"] = name

    @staticmethod
    def _cron(body: Json) -> None:
        """A far schedule (FAR_SCHEDULES), a zone that exists, and the operator's job rules the
        spec's CronJobRefused lists (a TTL with shutdownAfterJobFinishes, a selector naming its
        cluster, a runtimeEnv mapping)."""
        body["schedule"] = pick(FAR_SCHEDULES, body.get("schedule"))
        zone = body.get("timeZone")
        if isinstance(zone, str) and zone:
            try:
                check_zone(zone)
            except ScheduleError:
                body["timeZone"] = "Europe/Paris"
        ttl = body.get("ttlSecondsAfterFinished")
        if isinstance(ttl, int) and not isinstance(ttl, bool) and ttl != 0:
            body["ttlSecondsAfterFinished"] = abs(ttl) if ttl > -2**31 else 1
            body["shutdownAfterJobFinishes"] = True
        selector = body.get("clusterSelector")
        if isinstance(selector, dict) and selector and not selector.get(CLUSTER_SELECTOR_KEY):
            selector[CLUSTER_SELECTOR_KEY] = "some-cluster"
        _yaml_mapping(body, "runtimeEnv")

    def _cluster_spec(self, spec: Any, envs: Any) -> None:
        if not isinstance(spec, dict):
            return
        reserved = _env_names(envs) | HEAD_ENV_NAMES
        head = spec.get("headGroupSpec")
        if isinstance(head, dict):
            self._group(head, reserved)
        workers = spec.get("workerGroupSpec")
        if isinstance(workers, list):
            del workers[MAX_GROUPS:]
            for worker in workers:
                if isinstance(worker, dict):
                    self._group(worker, reserved | WORKER_ENV_NAMES)
                    _replicas(worker)
        options = spec.get("autoscalerOptions")
        if spec.get("enableInTreeAutoscaling") is True and isinstance(options, dict):
            for field, default in (("cpu", "500m"), ("memory", "512Mi")):
                if isinstance(options.get(field), str) and not self.fits("Quantity", options[field]):
                    options[field] = default
            _distinct_mounts(options.get("volumes"))
            self._envs(options.get("envs"), frozenset())

    def _group(self, group: Json, reserved: frozenset[str]) -> None:
        """A group's compute template exists; its volumes and environment variables are distinct."""
        if isinstance(group.get("computeTemplate"), str) and self.fits("ComputeTemplateReference",
                                                                       group["computeTemplate"]):
            group["computeTemplate"] = self.template
        volumes = group.get("volumes")
        if isinstance(volumes, list):
            _distinct_volumes(volumes)
            _distinct_mounts(volumes)
            for volume in volumes:
                if isinstance(volume, dict):
                    self._storage(volume)
        self._envs(group.get("environment"), reserved)

    def _storage(self, volume: Json) -> None:
        """An ephemeral volume has a size; the size of an ephemeral or emptyDir volume is a quantity."""
        kind, storage = volume.get("volumeType", 0), volume.get("storage", "")
        if not isinstance(storage, str):
            return
        if ((kind in EPHEMERAL and not (storage and self.fits("Quantity", storage)))
                or (kind in EMPTY_DIR and not self.fits("Quantity", storage))):
            volume["storage"] = "1Gi"

    @staticmethod
    def _envs(variables: Any, reserved: frozenset[str]) -> None:
        """Each variable of a container has a name, and is set once: not one the server sets, nor
        both literally and by reference."""
        if not isinstance(variables, dict):
            return
        values, references = variables.get("values"), variables.get("valuesFrom")
        for names in (values, references):
            if isinstance(names, dict):
                for name in [name for name in names if not name or name in reserved]:
                    del names[name]
        if isinstance(values, dict) and isinstance(references, dict):
            for name in [name for name in references if name in values]:
                del references[name]

    @staticmethod
    def _annotation_keys(body: Json, field: str) -> None:
        annotations = body.get(field)
        if isinstance(annotations, dict):
            for key in [key for key in annotations if not _annotation_key(key)]:
                del annotations[key]

    @staticmethod
    def _serve_graph(graph: Any) -> None:
        """One route prefix for the one application, and YAML mappings where the graph holds YAML."""
        if not isinstance(graph, dict):
            return
        _yaml_mapping(graph, "runtimeEnv")
        configs = [config for config in graph.get("serveConfigs") or [] if isinstance(config, dict)]
        prefixes = [config["routePrefix"] for config in configs if config.get("routePrefix")]
        for config in configs:
            if config.get("routePrefix"):
                config["routePrefix"] = prefixes[0]
            _yaml_mapping(config, "userConfig")
            _yaml_mapping(config, "autoscalingConfig")
            options = config.get("actorOptions")
            if isinstance(options, dict):
                _yaml_mapping(options, "runtimeEnv")
                _yaml_mapping(options, "customResource")


def _auth_version(body: Json) -> None:
    """Ray token authentication (`clusterSpec.authOptions`) comes with a Ray that has it."""
    spec = body.get("clusterSpec")
    if not (isinstance(spec, dict) and isinstance(spec.get("authOptions"), dict)):
        return
    try:
        check_auth_version(spec, str(body.get("version", "")))
    except InvalidInput:
        body["version"] = TOKEN_RAY


def _env_names(variables: Any) -> frozenset[str]:
    if not isinstance(variables, dict):
        return frozenset()
    return frozenset(name for names in (variables.get("values"), variables.get("valuesFrom"))
                     if isinstance(names, dict) for name in names)


def _replicas(worker: Json) -> None:
    """1 <= maxReplicas <= MAX_REPLICAS, and minReplicas <= replicas <= maxReplicas."""
    counts = [worker.get(key, 0) for key in ("minReplicas", "replicas", "maxReplicas")]
    if not all(isinstance(count, int) and not isinstance(count, bool) and count >= 0 for count in counts):
        return
    low, replicas, high = counts
    if "maxReplicas" in worker:
        high = worker["maxReplicas"] = 1 + high % MAX_REPLICAS
    if "replicas" in worker:
        replicas = worker["replicas"] = replicas % (high + 1)
    if "minReplicas" in worker:
        worker["minReplicas"] = low % (replicas + 1)


def _dicts(items: Any) -> Iterator[Json]:
    return (item for item in items if isinstance(item, dict)) if isinstance(items, list) else iter(())


def _distinct_volumes(volumes: Any) -> None:
    """Kubernetes keys a pod's volumes by name."""
    _distinct(volumes, "name", None, lambda name, n: f"{name[:55]}-{n}")


def _distinct_mounts(volumes: Any) -> None:
    """Kubernetes keys a container's volume mounts by path (absent: written as "")."""
    _distinct(volumes, "mountPath", "", lambda path, n: f"{path}/{n}")


def _distinct(items: Any, key: str, absent: str | None, variant: Callable[[str, int], str]) -> None:
    seen: set[str] = set()
    for item in _dicts(items):
        original = item.get(key, absent)
        if not isinstance(original, str):
            continue
        value, n = original, 0
        while value in seen:
            n += 1
            value = variant(original, n)
        if value != original:
            item[key] = value
        seen.add(value)


def _annotation_key(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    return (len(prefix) <= 253 and len(name) <= 63
            and _QUALIFIED_NAME.fullmatch(key.lower()) is not None)


def _yaml_mapping(holder: Json, key: str) -> None:
    text = holder.get(key)
    if not isinstance(text, str) or not text:
        return
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        value = "not a mapping"
    if value is not None and not isinstance(value, dict):
        holder[key] = ""
