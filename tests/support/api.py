"""Support for the integration tests: the upstream README's requests and direct Kubernetes access.

The request functions return the bodies of the upstream KubeRay APIServer user guide, fresh
for each call, with only the namespace changed (every test runs in its own). The Kubernetes
helpers use the official client as the cluster's administrator, to see what the server wrote
and to plant objects it did not write.
"""
from __future__ import annotations

import inspect
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from kubernetes import client

from app import RPC_EXTENSION, create_app
from app.errors import Forbidden
from app.k8s import K8s
from app.settings import Settings

PREFIXES = ("/apis/v1alpha2", "/apis/v1")
Json = dict[str, Any]
GO_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,9})? \+0000 UTC$")
MANAGED = {"app.kubernetes.io/managed-by": "kuberay-apiserver", "app.kubernetes.io/name": "kuberay"}


# -- responses --------------------------------------------------------------------------------

def ok(response: Any) -> Json:
    """The JSON body of a 200 answer (upstream answers every success with 200)."""
    assert response.status_code == 200, (response.status_code, response.text)
    return response.json()


def refused(response: Any, status: int, code: int) -> str:
    """The message of an error answer, after checking its status and its {code, message} body."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"code", "message"} and body["code"] == code, body
    return body["message"]


def kubernetes_status(answer: Any, code: int) -> Json:
    """A refusal worded as the Kubernetes API words one (the V2 API's), checked: the `Status`."""
    assert isinstance(answer, dict) and answer.get("kind") == "Status", answer
    assert (answer["apiVersion"], answer["status"], answer["code"]) == ("v1", "Failure", code), answer
    return answer


def served_eventually(app_client: Any, path: str, key: str, names: list[str]) -> None:
    """Objects written past the server (as kubectl or the operator write them) are in its answers
    once its watch caches have seen them: wait for that, as any client of the server would."""
    from tests.conftest import wait_for

    wait_for(lambda: [item["name"] for item in ok(app_client.get(path)).get(key, [])] == names,
             timeout=30, what=f"{names} in {path}")


def gateway_methods() -> set[str]:
    """Every call app/k8s.py can make to Kubernetes."""
    return {name for name, value in vars(K8s).items()
            if inspect.isfunction(value) and not name.startswith("_") and name not in ("connect", "request_scope")}


class GatewayCalls:
    """Wraps a gateway's methods (the real calls still go to the API server) to count every call
    and note every Forbidden, including those the server deliberately swallows (event reads)."""

    def __init__(self, k8s: K8s) -> None:
        self.counts: Counter[str] = Counter()
        self.refusals: list[str] = []
        for name in gateway_methods():
            setattr(k8s, name, self._wrap(name, getattr(k8s, name)))

    def _wrap(self, name: str, call: Callable[..., Any]) -> Callable[..., Any]:
        def counted(*args: Any, **kwargs: Any) -> Any:
            self.counts[name] += 1
            try:
                return call(*args, **kwargs)
            except Forbidden as exc:
                self.refusals.append(str(exc))
                raise
        return counted

    def since(self, before: Counter[str]) -> dict[str, int]:
        return dict(self.counts - before)


@contextmanager
def own_app(k8s: K8s, **settings: Any) -> Iterator[Any]:
    """A test client over a K8s of the test's own (to count its calls, or to point it elsewhere),
    with `settings` of its own on top of the tests' (e.g. `max_workers_per_cluster=10`).

    The app runs as a server does (its lifespan): its watch caches start with it, reads go to
    Kubernetes until they are synced, and their watches end with it.
    """
    with create_app(Settings(validate_responses=True, **settings), k8s).test_client() as client:
        yield client


@contextmanager
def own_app_with_rpc(k8s: K8s, **settings: Any) -> Iterator[tuple[Any, int]]:
    """`own_app`, with its gRPC front on a free loopback port: its test client and that port."""
    app = create_app(Settings(validate_responses=True, grpc_bind="127.0.0.1:0", **settings), k8s)
    with app.test_client() as client:
        yield client, app.app.extensions[RPC_EXTENSION].port


# -- Kubernetes, as the administrator ---------------------------------------------------------

def account_with_role(api: client.ApiClient, namespace: str, name: str, rules: list[Json]) -> None:
    """A ServiceAccount `name`, bound to a Role of the same name and `rules`, in `namespace`: a
    caller of the API in the `kubernetes` auth mode."""
    core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
    core.create_namespaced_service_account(namespace, {"metadata": {"name": name}})
    rbac.create_namespaced_role(namespace, {"metadata": {"name": name}, "rules": rules})
    rbac.create_namespaced_role_binding(namespace, {
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}]})


def pod_exec(api: client.ApiClient, namespace: str, pod: str, command: list[str],
             container: str | None = None) -> str:
    """A command run in a pod's container, through the API server, the kubelet and containerd
    (real pods only: kwok runs nothing); its stdout and stderr."""
    from kubernetes.stream import stream

    options = {"container": container} if container else {}
    return str(stream(client.CoreV1Api(api).connect_get_namespaced_pod_exec, pod, namespace, command=command,
                      stderr=True, stdout=True, stdin=False, tty=False, **options))


class Kube:
    """What the API server holds, read and written past our server."""

    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    def get(self, plural: str, ns: str, name: str) -> Json | None:
        try:
            return self.custom.get_namespaced_custom_object("ray.io", "v1", ns, plural, name)
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def items(self, plural: str, ns: str, selector: str = "") -> list[Json]:
        return self.custom.list_namespaced_custom_object(
            "ray.io", "v1", ns, plural, label_selector=selector)["items"]

    def create(self, plural: str, ns: str, body: Json) -> Json:
        kind = {"rayclusters": "RayCluster", "rayjobs": "RayJob", "rayservices": "RayService"}[plural]
        return self.custom.create_namespaced_custom_object(
            "ray.io", "v1", ns, plural, {"apiVersion": "ray.io/v1", "kind": kind, **body})

    def configmap(self, ns: str, name: str) -> Json | None:
        try:
            return self.core.api_client.sanitize_for_serialization(
                self.core.read_namespaced_config_map(name, ns))
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise


STAMPS = ("ray.io/creation-timestamp", "ray.io/update-timestamp")  # annotations: when the server wrote


def without_operator_defaults(value: Any) -> Any:
    """The operator writes a RayJob back soon after its creation, with the zero values of its Go
    types filled in (`scaleStrategy: {}`, `divisor: "0"`): whether a read comes before or after
    that is timing, so both read as the object without them."""
    if isinstance(value, dict):
        return {key: without_operator_defaults(item) for key, item in value.items()
                if item != {} and not (key == "divisor" and item == "0")}
    if isinstance(value, list):
        return [without_operator_defaults(item) for item in value]
    return value


def container(pod_template: Json) -> Json:
    return pod_template["spec"]["containers"][0]


def raycluster_spec(name: str = "plain") -> Json:
    """A minimal valid RayCluster spec, for objects planted past our server."""
    pod = {"spec": {"containers": [{"name": "ray-head", "image": "rayproject/ray:2.7.0"}]}}
    return {"rayVersion": "2.7.0", "headGroupSpec": {"rayStartParams": {}, "template": pod}}

SERVE_CONFIG_V2 = (
    "applications:\n  - name: fruit_app\n    import_path: fruit.deployment_graph\n"
    "    route_prefix: /fruit\n    runtime_env:\n      working_dir: \"https://github.com/ray-project/"
    "test_dag/archive/41d09119cbdf8450599f993f51318e9e27c59098.zip\"\n    deployments:\n"
    "      - name: MangoStand\n        num_replicas: 1\n        user_config:\n          price: 3\n"
    "        ray_actor_options:\n          num_cpus: 0.1\n      - name: OrangeStand\n"
    "        num_replicas: 1\n        user_config:\n          price: 2\n        ray_actor_options:\n"
    "          num_cpus: 0.1\n      - name: PearStand\n        num_replicas: 1\n        user_config:\n"
    "          price: 1\n        ray_actor_options:\n          num_cpus: 0.1\n      - name: FruitMarket\n"
    "        num_replicas: 1\n        ray_actor_options:\n          num_cpus: 0.1\n"
    "      - name: DAGDriver\n        num_replicas: 1\n        ray_actor_options:\n"
    "          num_cpus: 0.1\n  - name: math_app\n    import_path: conditional_dag.serve_dag\n"
    "    route_prefix: /calc\n    runtime_env:\n      working_dir: \"https://github.com/ray-project/"
    "test_dag/archive/41d09119cbdf8450599f993f51318e9e27c59098.zip\"\n    deployments:\n"
    "      - name: Adder\n        num_replicas: 1\n        user_config:\n          increment: 3\n"
    "        ray_actor_options:\n          num_cpus: 0.1\n      - name: Multiplier\n"
    "        num_replicas: 1\n        user_config:\n          factor: 5\n        ray_actor_options:\n"
    "          num_cpus: 0.1\n      - name: Router\n        num_replicas: 1\n"
    "      - name: create_order\n        num_replicas: 1\n      - name: DAGDriver\n"
    "        num_replicas: 1\n"
)


def template_body(ns: str, name: str = "default-template") -> Json:
    return {"name": name, "namespace": ns, "cpu": 2, "memory": 4}


def cluster_body(ns: str, name: str = "test-cluster") -> Json:
    return {
        "name": name,
        "namespace": ns,
        "user": "3cpo",
        "version": "2.7.0",
        "environment": "DEV",
        "clusterSpec": {
            "headGroupSpec": {
                "computeTemplate": "default-template",
                "image": "rayproject/ray:2.7.0",
                "serviceType": "NodePort",
                "rayStartParams": {"dashboard-host": "0.0.0.0", "metrics-export-port": "8080"},
                "volumes": [],
            },
            "workerGroupSpec": [
                {
                    "groupName": "small-wg",
                    "computeTemplate": "default-template",
                    "image": "rayproject/ray:2.7.0",
                    "replicas": 1,
                    "minReplicas": 1,
                    "maxReplicas": 1,
                    "rayStartParams": {"node-ip-address": "$MY_POD_IP"},
                }
            ],
        },
    }


def volumes_cluster_body(ns: str, name: str = "job-test") -> Json:
    volume = {
        "name": "code-sample",
        "mountPath": "/home/ray/samples",
        "volumeType": "CONFIGMAP",
        "source": "ray-job-code-sample",
        "items": {"sample_code.py": "sample_code.py"},
    }
    return {
        "name": name,
        "namespace": ns,
        "user": "boris",
        "version": "2.7.0",
        "environment": "DEV",
        "clusterSpec": {
            "headGroupSpec": {
                "computeTemplate": "default-template",
                "image": "rayproject/ray:2.7.0-py310",
                "serviceType": "NodePort",
                "rayStartParams": {"dashboard-host": "0.0.0.0", "metrics-export-port": "8080"},
                "volumes": [dict(volume)],
            },
            "workerGroupSpec": [
                {
                    "groupName": "small-wg",
                    "computeTemplate": "default-template",
                    "image": "rayproject/ray:2.7.0-py310",
                    "replicas": 1,
                    "minReplicas": 0,
                    "maxReplicas": 5,
                    "rayStartParams": {"node-ip-address": "$MY_POD_IP"},
                    "volumes": [dict(volume)],
                }
            ],
        },
    }


def job_body(ns: str, name: str = "rayjob-test") -> Json:
    return {
        "name": name,
        "namespace": ns,
        "user": "3cp0",
        "entrypoint": "python -V",
        "clusterSpec": {
            "headGroupSpec": {
                "computeTemplate": "default-template",
                "image": "rayproject/ray:2.7.0",
                "serviceType": "NodePort",
                "rayStartParams": {"dashboard-host": "0.0.0.0"},
            },
            "workerGroupSpec": [
                {
                    "groupName": "small-wg",
                    "computeTemplate": "default-template",
                    "image": "rayproject/ray:2.7.0",
                    "replicas": 1,
                    "minReplicas": 0,
                    "maxReplicas": 1,
                    "rayStartParams": {"metrics-export-port": "8080"},
                }
            ],
        },
    }


def selector_job_body(ns: str, submitter: bool = True, name: str = "job-test") -> Json:
    body: Json = {
        "name": name,
        "namespace": ns,
        "user": "boris",
        "entrypoint": "python /home/ray/samples/sample_code.py",
        "runtimeEnv": (
            "pip:\n  - requests==2.26.0\n  - pendulum==2.1.2\nenv_vars:\n  counter_name: test_counter\n"
        ),
        "clusterSelector": {"ray.io/cluster": "job-test"},
    }
    if submitter:
        body["jobSubmitter"] = {"image": "rayproject/ray:2.7.0-py310"}
    return body


def _service_cluster_spec() -> Json:
    return {
        "headGroupSpec": {
            "computeTemplate": "default-template",
            "image": "rayproject/ray:2.7.0-py310",
            "serviceType": "NodePort",
            "rayStartParams": {"dashboard-host": "0.0.0.0", "metrics-export-port": "8080"},
            "volumes": [],
        },
        "workerGroupSpec": [
            {
                "groupName": "small-wg",
                "computeTemplate": "default-template",
                "image": "rayproject/ray:2.7.0-py310",
                "replicas": 1,
                "minReplicas": 0,
                "maxReplicas": 5,
                "rayStartParams": {"node-ip-address": "$MY_POD_IP"},
            }
        ],
    }


def service_body(ns: str, name: str = "test-v2") -> Json:
    return {
        "name": name,
        "namespace": ns,
        "user": "user",
        "serviceUnhealthySecondThreshold": 900,
        "deploymentUnhealthySecondThreshold": 300,
        "serveConfigV2": SERVE_CONFIG_V2,
        "clusterSpec": _service_cluster_spec(),
    }


def graph_service_body(ns: str, name: str = "test-v1") -> Json:
    """The README's deployment-graph (v1.0.0) form; v1.7.0 no longer has `serveDeploymentGraphSpec`."""
    return {
        "name": name,
        "namespace": ns,
        "user": "user",
        "serviceUnhealthySecondThreshold": 900,
        "deploymentUnhealthySecondThreshold": 300,
        "serveDeploymentGraphSpec": {
            "importPath": "fruit.deployment_graph",
            "runtimeEnv": 'working_dir: "https://github.com/ray-project/test_dag/archive/'
            'c620251044717ace0a4c19d766d43c5099af8a77.zip"\n',
            "serveConfigs": [
                {"deploymentName": "OrangeStand", "replicas": 1, "userConfig": "price: 2",
                 "actorOptions": {"cpusPerActor": 0.1}},
                {"deploymentName": "PearStand", "replicas": 1, "userConfig": "price: 1",
                 "actorOptions": {"cpusPerActor": 0.1}},
                {"deploymentName": "FruitMarket", "replicas": 1,
                 "actorOptions": {"cpusPerActor": 0.1}},
                {"deploymentName": "DAGDriver", "replicas": 1, "routePrefix": "/",
                 "actorOptions": {"cpusPerActor": 0.1}},
            ],
        },
        "clusterSpec": _service_cluster_spec(),
    }
