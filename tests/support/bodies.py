"""The upstream KubeRay APIServer user guide's request bodies, fresh for each call, with only the
namespace changed (every test runs in its own), and a minimal RayCluster for objects planted past
our server."""
from __future__ import annotations

from app.types import Json


def container(pod_template: Json) -> Json:
    first: Json = pod_template["spec"]["containers"][0]
    return first


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
