"""Shapes of the API's JSON objects, as the translation and service layers handle them.

Keys are the spec's JSON names (camelCase, as protojson writes upstream's v1 protos); enums
are numbers, as upstream's gateway writes them. Every `TypedDict` is `total=False`: upstream
omits zero values, so any key may be absent.
The services and handlers take and answer these types (`Cluster`, `RayJob`, `RayService`,
`ComputeTemplate`); the translation functions take any `Mapping[str, Any]` and return plain
`Json`, and use these types to check their inside. Kubernetes objects stay plain `Json`, except
the few read field by field below.
"""
from __future__ import annotations

from typing import Any, TypedDict

# A JSON object as the API and Kubernetes exchange it: the one alias for it in the code base.
Json = dict[str, Any]

# -- compute templates (config.proto) -------------------------------------------------------


class PodToleration(TypedDict, total=False):
    key: str
    operator: str
    value: str
    effect: str


class ComputeTemplate(TypedDict, total=False):
    name: str
    namespace: str
    cpu: int
    memory: int
    memoryUnit: str
    gpu: int
    gpuAccelerator: str
    extendedResources: dict[str, int]
    tolerations: list[PodToleration]


# -- clusters (cluster.proto) ---------------------------------------------------------------


class EnvValueFrom(TypedDict, total=False):
    source: int  # EnvSource: CONFIGMAP 0, SECRET 1, RESOURCEFIELD 2, FIELD 3
    name: str
    key: str


class EnvironmentVariables(TypedDict, total=False):
    values: dict[str, str]
    valuesFrom: dict[str, EnvValueFrom]


class Volume(TypedDict, total=False):
    mountPath: str
    volumeType: int  # VolumeType: PERSISTENT_VOLUME_CLAIM 0 ... EMPTY_DIR 5
    name: str
    source: str
    readOnly: bool
    hostPathType: int  # HostPathType: DIRECTORY 0, FILE 1
    mountPropagationMode: int  # MountPropagation: NONE 0, HOSTTOCONTAINER 1, BIDIRECTIONAL 2
    storageClassName: str
    accessMode: int  # AccessMode: RWO 0, ROX 1, RWX 2
    storage: str
    items: dict[str, str]


class Capabilities(TypedDict, total=False):
    add: list[str]
    drop: list[str]


class SecurityContext(TypedDict, total=False):
    capabilities: Capabilities
    privileged: bool  # proto3 optional: written whenever set, even False


class AutoscalerOptions(TypedDict, total=False):
    idleTimeoutSeconds: int
    upscalingMode: str
    image: str
    imagePullPolicy: str
    cpu: str
    memory: str
    envs: EnvironmentVariables
    volumes: list[Volume]


class NodeGroupSpec(TypedDict, total=False):
    """What head and worker groups have in common."""

    computeTemplate: str
    image: str
    rayStartParams: dict[str, str]
    volumes: list[Volume]
    serviceAccount: str
    imagePullSecret: str
    environment: EnvironmentVariables
    annotations: dict[str, str]
    labels: dict[str, str]
    imagePullPolicy: str
    securityContext: SecurityContext


class HeadGroupSpec(NodeGroupSpec, total=False):
    serviceType: str
    enableIngress: bool


class WorkerGroupSpec(NodeGroupSpec, total=False):
    groupName: str
    replicas: int
    minReplicas: int
    maxReplicas: int


class ClusterSpec(TypedDict, total=False):
    headGroupSpec: HeadGroupSpec
    workerGroupSpec: list[WorkerGroupSpec]
    enableInTreeAutoscaling: bool
    autoscalerOptions: AutoscalerOptions
    headServiceAnnotations: dict[str, str]
    authOptions: AuthOptions  # an extension of this server: Ray token authentication


class AuthOptions(TypedDict, total=False):
    mode: str  # "token" (also when empty) or "disabled"
    secretName: str


class ClusterEvent(TypedDict, total=False):
    id: str
    name: str
    createdAt: str
    firstTimestamp: str
    lastTimestamp: str
    reason: str
    message: str
    type: str
    count: int


class Cluster(TypedDict, total=False):
    name: str
    namespace: str
    user: str
    version: str
    environment: int  # Environment: DEV 0, TESTING 1, STAGING 2, PRODUCTION 3
    clusterSpec: ClusterSpec
    annotations: dict[str, str]
    envs: EnvironmentVariables  # request only
    createdAt: str  # the rest: response only
    deletedAt: str
    clusterState: str
    events: list[ClusterEvent]
    serviceEndpoint: dict[str, str]


# -- Kubernetes objects read field by field -------------------------------------------------


class EventSeries(TypedDict, total=False):
    count: int
    lastObservedTime: str


class Event(TypedDict, total=False):
    """An events.k8s.io/v1 Event, with the fields a `ClusterEvent` is made of."""

    metadata: dict[str, Any]
    eventTime: str
    series: EventSeries
    reason: str
    note: str
    type: str
    deprecatedFirstTimestamp: str
    deprecatedLastTimestamp: str
    deprecatedCount: int


# -- jobs and services (job.proto, serve.proto): appended below this line -------------------


class RayJobSubmitter(TypedDict, total=False):
    image: str
    cpu: str  # quantity; "1" when absent
    memory: str  # quantity; "1Gi" when absent


class RayJob(TypedDict, total=False):
    name: str
    namespace: str
    user: str
    version: str
    entrypoint: str
    metadata: dict[str, str]
    runtimeEnv: str  # YAML, passed through
    jobId: str
    shutdownAfterJobFinishes: bool
    clusterSelector: dict[str, str]
    clusterSpec: ClusterSpec
    ttlSecondsAfterFinished: int
    jobSubmitter: RayJobSubmitter
    entrypointNumCpus: float
    entrypointNumGpus: float
    entrypointResources: str  # a JSON object, passed through
    activeDeadlineSeconds: int  # request only
    createdAt: str  # the rest: response only
    deleteAt: str
    jobStatus: str
    jobDeploymentStatus: str
    message: str
    startTime: str
    endTime: str
    rayClusterName: str


class RayCronJobRun(TypedDict, total=False):
    """One RayJob a RayCronJob made (response only)."""

    name: str
    jobStatus: str
    jobDeploymentStatus: str
    message: str
    rayClusterName: str
    createdAt: str
    scheduledAt: str
    startTime: str
    endTime: str


class RayCronJob(RayJob, total=False):
    """The RayJob it makes, plus when (an extension of the V1 API: upstream has no cron jobs)."""

    schedule: str  # a cron schedule, without a time zone prefix
    suspend: bool
    timeZone: str  # IANA name; stored as the schedule's CRON_TZ= prefix
    lastScheduleTime: str  # the rest: response only
    jobs: list[RayCronJobRun]


class ActorOptions(TypedDict, total=False):
    """v1.0.0 `ActorOptions`; uint64 fields arrive as numbers or strings and leave as strings."""

    runtimeEnv: str  # YAML
    cpusPerActor: float
    gpusPerActor: float
    memoryPerActor: int | str
    objectStoreMemoryPerActor: int | str
    customResource: str  # YAML/JSON object
    accceleratorType: str  # sic, three c's


class ServeConfig(TypedDict, total=False):
    deploymentName: str
    replicas: int
    routePrefix: str
    maxConcurrentQueries: int
    userConfig: str  # YAML
    autoscalingConfig: str  # YAML
    actorOptions: ActorOptions


class ServeDeploymentGraphSpec(TypedDict, total=False):
    """v1.0.0's single-application Serve configuration, removed upstream in v1.1.0."""

    importPath: str
    runtimeEnv: str  # YAML
    serveConfigs: list[ServeConfig]


class ServeDeploymentStatus(TypedDict, total=False):
    deploymentName: str
    status: str
    message: str


class ServeApplicationStatus(TypedDict, total=False):
    name: str
    status: str
    message: str
    serveDeploymentStatus: list[ServeDeploymentStatus]


class RayServiceStatus(TypedDict, total=False):
    rayServiceEvents: list[ClusterEvent]
    rayClusterName: str
    rayClusterState: str
    serviceEndpoint: dict[str, str]
    serveApplicationStatus: list[ServeApplicationStatus]


class RayService(TypedDict, total=False):
    name: str
    namespace: str
    user: str
    version: str
    serveConfigV2: str  # YAML, passed through
    serveDeploymentGraphSpec: ServeDeploymentGraphSpec  # instead of serveConfigV2
    serviceUnhealthySecondThreshold: int
    deploymentUnhealthySecondThreshold: int
    clusterSpec: ClusterSpec
    rayServiceStatus: RayServiceStatus  # the rest: response only, always present
    createdAt: str
    deleteAt: str  # always present: 1969-12-31T23:59:59Z when not being deleted
