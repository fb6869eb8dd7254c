import datetime

from google.protobuf import empty_pb2 as _empty_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from app.rpc.generated import cluster_pb2 as _cluster_pb2
from app.rpc.generated import job_pb2 as _job_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateRayCronJobRequest(_message.Message):
    __slots__ = ("cronjob", "namespace")
    CRONJOB_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    cronjob: RayCronJob
    namespace: str
    def __init__(self, cronjob: _Optional[_Union[RayCronJob, _Mapping]] = ..., namespace: _Optional[str] = ...) -> None: ...

class GetRayCronJobRequest(_message.Message):
    __slots__ = ("name", "namespace")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    name: str
    namespace: str
    def __init__(self, name: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class ListRayCronJobsRequest(_message.Message):
    __slots__ = ("namespace", "limit")
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    CONTINUE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    namespace: str
    limit: int
    def __init__(self, namespace: _Optional[str] = ..., limit: _Optional[int] = ..., **kwargs) -> None: ...

class ListRayCronJobsResponse(_message.Message):
    __slots__ = ("cronjobs",)
    CRONJOBS_FIELD_NUMBER: _ClassVar[int]
    CONTINUE_FIELD_NUMBER: _ClassVar[int]
    cronjobs: _containers.RepeatedCompositeFieldContainer[RayCronJob]
    def __init__(self, cronjobs: _Optional[_Iterable[_Union[RayCronJob, _Mapping]]] = ..., **kwargs) -> None: ...

class ListAllRayCronJobsRequest(_message.Message):
    __slots__ = ("limit",)
    CONTINUE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    limit: int
    def __init__(self, limit: _Optional[int] = ..., **kwargs) -> None: ...

class ListAllRayCronJobsResponse(_message.Message):
    __slots__ = ("cronjobs",)
    CRONJOBS_FIELD_NUMBER: _ClassVar[int]
    CONTINUE_FIELD_NUMBER: _ClassVar[int]
    cronjobs: _containers.RepeatedCompositeFieldContainer[RayCronJob]
    def __init__(self, cronjobs: _Optional[_Iterable[_Union[RayCronJob, _Mapping]]] = ..., **kwargs) -> None: ...

class DeleteRayCronJobRequest(_message.Message):
    __slots__ = ("name", "namespace")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    name: str
    namespace: str
    def __init__(self, name: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class SuspendRayCronJobRequest(_message.Message):
    __slots__ = ("name", "namespace")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    name: str
    namespace: str
    def __init__(self, name: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class ResumeRayCronJobRequest(_message.Message):
    __slots__ = ("name", "namespace")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    name: str
    namespace: str
    def __init__(self, name: _Optional[str] = ..., namespace: _Optional[str] = ...) -> None: ...

class RayCronJobRun(_message.Message):
    __slots__ = ("name", "job_status", "job_deployment_status", "message", "ray_cluster_name", "created_at", "scheduled_at", "start_time", "end_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    JOB_STATUS_FIELD_NUMBER: _ClassVar[int]
    JOB_DEPLOYMENT_STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RAY_CLUSTER_NAME_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_AT_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    job_status: str
    job_deployment_status: str
    message: str
    ray_cluster_name: str
    created_at: _timestamp_pb2.Timestamp
    scheduled_at: _timestamp_pb2.Timestamp
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., job_status: _Optional[str] = ..., job_deployment_status: _Optional[str] = ..., message: _Optional[str] = ..., ray_cluster_name: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., scheduled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RayCronJob(_message.Message):
    __slots__ = ("name", "namespace", "user", "entrypoint", "metadata", "runtime_env", "job_id", "shutdown_after_job_finishes", "cluster_selector", "cluster_spec", "ttl_seconds_after_finished", "created_at", "delete_at", "job_status", "job_deployment_status", "message", "jobSubmitter", "entrypointNumCpus", "entrypointNumGpus", "entrypointResources", "version", "start_time", "end_time", "ray_cluster_name", "activeDeadlineSeconds", "schedule", "suspend", "time_zone", "last_schedule_time", "jobs")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ClusterSelectorEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    ENTRYPOINT_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_ENV_FIELD_NUMBER: _ClassVar[int]
    JOB_ID_FIELD_NUMBER: _ClassVar[int]
    SHUTDOWN_AFTER_JOB_FINISHES_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_SPEC_FIELD_NUMBER: _ClassVar[int]
    TTL_SECONDS_AFTER_FINISHED_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DELETE_AT_FIELD_NUMBER: _ClassVar[int]
    JOB_STATUS_FIELD_NUMBER: _ClassVar[int]
    JOB_DEPLOYMENT_STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    JOBSUBMITTER_FIELD_NUMBER: _ClassVar[int]
    ENTRYPOINTNUMCPUS_FIELD_NUMBER: _ClassVar[int]
    ENTRYPOINTNUMGPUS_FIELD_NUMBER: _ClassVar[int]
    ENTRYPOINTRESOURCES_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    RAY_CLUSTER_NAME_FIELD_NUMBER: _ClassVar[int]
    ACTIVEDEADLINESECONDS_FIELD_NUMBER: _ClassVar[int]
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    SUSPEND_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    LAST_SCHEDULE_TIME_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    name: str
    namespace: str
    user: str
    entrypoint: str
    metadata: _containers.ScalarMap[str, str]
    runtime_env: str
    job_id: str
    shutdown_after_job_finishes: bool
    cluster_selector: _containers.ScalarMap[str, str]
    cluster_spec: _cluster_pb2.ClusterSpec
    ttl_seconds_after_finished: int
    created_at: _timestamp_pb2.Timestamp
    delete_at: _timestamp_pb2.Timestamp
    job_status: str
    job_deployment_status: str
    message: str
    jobSubmitter: _job_pb2.RayJobSubmitter
    entrypointNumCpus: float
    entrypointNumGpus: float
    entrypointResources: str
    version: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    ray_cluster_name: str
    activeDeadlineSeconds: int
    schedule: str
    suspend: bool
    time_zone: str
    last_schedule_time: _timestamp_pb2.Timestamp
    jobs: _containers.RepeatedCompositeFieldContainer[RayCronJobRun]
    def __init__(self, name: _Optional[str] = ..., namespace: _Optional[str] = ..., user: _Optional[str] = ..., entrypoint: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., runtime_env: _Optional[str] = ..., job_id: _Optional[str] = ..., shutdown_after_job_finishes: _Optional[bool] = ..., cluster_selector: _Optional[_Mapping[str, str]] = ..., cluster_spec: _Optional[_Union[_cluster_pb2.ClusterSpec, _Mapping]] = ..., ttl_seconds_after_finished: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., delete_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., job_status: _Optional[str] = ..., job_deployment_status: _Optional[str] = ..., message: _Optional[str] = ..., jobSubmitter: _Optional[_Union[_job_pb2.RayJobSubmitter, _Mapping]] = ..., entrypointNumCpus: _Optional[float] = ..., entrypointNumGpus: _Optional[float] = ..., entrypointResources: _Optional[str] = ..., version: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ray_cluster_name: _Optional[str] = ..., activeDeadlineSeconds: _Optional[int] = ..., schedule: _Optional[str] = ..., suspend: _Optional[bool] = ..., time_zone: _Optional[str] = ..., last_schedule_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., jobs: _Optional[_Iterable[_Union[RayCronJobRun, _Mapping]]] = ...) -> None: ...
