"""proto/ against upstream's protos (`proto/{cluster,config,job,serve,job_submission,error}.proto@v1.7.0`):
bytes built by hand, names, services, enums. This server's one extension (`ClusterSpec.auth_options`,
field 1001, and its message `AuthOptions`) is in the tables too, marked as such.

The tables below are transcribed from those files, not read from them at test time. A renumbered field,
a changed type or label, a field or message added or missing, or stale generated modules each fail here.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import any_pb2, descriptor_pb2, json_format, timestamp_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

from app.rpc.generated import cluster_pb2, job_submission_pb2, serve_pb2
from scripts.gen_protos import generate
from tests.support.rpc import MODULES

GENERATED = Path(__file__).resolve().parents[2] / "app" / "rpc" / "generated"


Row = tuple[str, int, str, str, str]  # field name, number, type, label, JSON name

# Every message of every v1.7.0 file, by file, with every field (section 8.3 to 8.8).
MESSAGES: dict[str, dict[str, list[Row]]] = {
    "cluster.proto": {
        "CreateClusterRequest": [
            ("cluster", 1, "proto.Cluster", "singular", "cluster"),
            ("namespace", 2, "string", "singular", "namespace"),
        ],
        "GetClusterRequest": [
            ("name", 1, "string", "singular", "name"),
            ("namespace", 2, "string", "singular", "namespace"),
        ],
        "ListClustersRequest": [
            ("namespace", 1, "string", "singular", "namespace"),
            ("continue", 2, "string", "singular", "continue"),
            ("limit", 3, "int64", "singular", "limit"),
        ],
        "ListClustersResponse": [
            ("clusters", 1, "proto.Cluster", "repeated", "clusters"),
            ("continue", 2, "string", "singular", "continue"),
        ],
        "ListAllClustersRequest": [
            ("continue", 1, "string", "singular", "continue"),
            ("limit", 2, "int64", "singular", "limit"),
        ],
        "ListAllClustersResponse": [
            ("clusters", 1, "proto.Cluster", "repeated", "clusters"),
            ("continue", 2, "string", "singular", "continue"),
        ],
        "DeleteClusterRequest": [
            ("name", 1, "string", "singular", "name"),
            ("namespace", 2, "string", "singular", "namespace"),
        ],
        "EnvValueFrom": [
            ("source", 1, "proto.EnvValueFrom.Source", "singular", "source"),
            ("name", 2, "string", "singular", "name"),
            ("key", 3, "string", "singular", "key"),
        ],
        "EnvironmentVariables": [
            ("values", 1, "map<string, string>", "map", "values"),
            ("valuesFrom", 2, "map<string, proto.EnvValueFrom>", "map", "valuesFrom"),
        ],
        "AutoscalerOptions": [
            ("idleTimeoutSeconds", 1, "int32", "singular", "idleTimeoutSeconds"),
            ("upscalingMode", 2, "string", "singular", "upscalingMode"),
            ("image", 3, "string", "singular", "image"),
            ("imagePullPolicy", 4, "string", "singular", "imagePullPolicy"),
            ("cpu", 5, "string", "singular", "cpu"),
            ("memory", 6, "string", "singular", "memory"),
            ("envs", 7, "proto.EnvironmentVariables", "singular", "envs"),
            ("volumes", 8, "proto.Volume", "repeated", "volumes"),
        ],
        "Cluster": [
            ("name", 1, "string", "singular", "name"),
            ("namespace", 2, "string", "singular", "namespace"),
            ("user", 3, "string", "singular", "user"),
            ("version", 4, "string", "singular", "version"),
            ("environment", 5, "proto.Cluster.Environment", "singular", "environment"),
            ("cluster_spec", 6, "proto.ClusterSpec", "singular", "clusterSpec"),
            ("annotations", 7, "map<string, string>", "map", "annotations"),
            ("envs", 8, "proto.EnvironmentVariables", "singular", "envs"),
            ("created_at", 9, "google.protobuf.Timestamp", "singular", "createdAt"),
            ("deleted_at", 10, "google.protobuf.Timestamp", "singular", "deletedAt"),
            ("cluster_state", 11, "string", "singular", "clusterState"),
            ("events", 12, "proto.ClusterEvent", "repeated", "events"),
            ("service_endpoint", 13, "map<string, string>", "map", "serviceEndpoint"),
        ],
        "ClusterSpec": [
            ("head_group_spec", 1, "proto.HeadGroupSpec", "singular", "headGroupSpec"),
            ("worker_group_spec", 2, "proto.WorkerGroupSpec", "repeated", "workerGroupSpec"),
            ("enableInTreeAutoscaling", 3, "bool", "singular", "enableInTreeAutoscaling"),
            ("autoscalerOptions", 4, "proto.AutoscalerOptions", "singular", "autoscalerOptions"),
            ("headServiceAnnotations", 5, "map<string, string>", "map", "headServiceAnnotations"),
            # An extension of this server, not upstream's: numbered far above upstream's fields.
            ("auth_options", 1001, "proto.AuthOptions", "singular", "authOptions"),
        ],
        "AuthOptions": [  # an extension of this server, not upstream's: Ray token authentication
            ("mode", 1, "string", "singular", "mode"),
            ("secret_name", 2, "string", "singular", "secretName"),
        ],
        "Volume": [
            ("mount_path", 1, "string", "singular", "mountPath"),
            ("volume_type", 2, "proto.Volume.VolumeType", "singular", "volumeType"),
            ("name", 3, "string", "singular", "name"),
            ("source", 4, "string", "singular", "source"),
            ("read_only", 5, "bool", "singular", "readOnly"),
            ("host_path_type", 6, "proto.Volume.HostPathType", "singular", "hostPathType"),
            ("mount_propagation_mode", 7, "proto.Volume.MountPropagationMode", "singular", "mountPropagationMode"),
            ("storageClassName", 8, "string", "singular", "storageClassName"),
            ("accessMode", 9, "proto.Volume.AccessMode", "singular", "accessMode"),
            ("storage", 10, "string", "singular", "storage"),
            ("items", 11, "map<string, string>", "map", "items"),
        ],
        "Capabilities": [
            ("add", 1, "string", "repeated", "add"),
            ("drop", 2, "string", "repeated", "drop"),
        ],
        "SecurityContext": [
            ("capabilities", 1, "proto.Capabilities", "singular", "capabilities"),
            ("privileged", 2, "bool", "optional", "privileged"),
        ],
        "HeadGroupSpec": [
            ("compute_template", 1, "string", "singular", "computeTemplate"),
            ("image", 2, "string", "singular", "image"),
            ("service_type", 3, "string", "singular", "serviceType"),
            ("enableIngress", 4, "bool", "singular", "enableIngress"),
            ("ray_start_params", 5, "map<string, string>", "map", "rayStartParams"),
            ("volumes", 6, "proto.Volume", "repeated", "volumes"),
            ("service_account", 7, "string", "singular", "serviceAccount"),
            ("image_pull_secret", 8, "string", "singular", "imagePullSecret"),
            ("environment", 9, "proto.EnvironmentVariables", "singular", "environment"),
            ("annotations", 10, "map<string, string>", "map", "annotations"),
            ("labels", 11, "map<string, string>", "map", "labels"),
            ("imagePullPolicy", 12, "string", "singular", "imagePullPolicy"),
            ("security_context", 13, "proto.SecurityContext", "singular", "securityContext"),
        ],
        "WorkerGroupSpec": [
            ("group_name", 1, "string", "singular", "groupName"),
            ("compute_template", 2, "string", "singular", "computeTemplate"),
            ("image", 3, "string", "singular", "image"),
            ("replicas", 4, "int32", "singular", "replicas"),
            ("min_replicas", 5, "int32", "singular", "minReplicas"),
            ("max_replicas", 6, "int32", "singular", "maxReplicas"),
            ("ray_start_params", 7, "map<string, string>", "map", "rayStartParams"),
            ("volumes", 8, "proto.Volume", "repeated", "volumes"),
            ("service_account", 9, "string", "singular", "serviceAccount"),
            ("image_pull_secret", 10, "string", "singular", "imagePullSecret"),
            ("environment", 11, "proto.EnvironmentVariables", "singular", "environment"),
            ("annotations", 12, "map<string, string>", "map", "annotations"),
            ("labels", 13, "map<string, string>", "map", "labels"),
            ("imagePullPolicy", 14, "string", "singular", "imagePullPolicy"),
            ("security_context", 15, "proto.SecurityContext", "singular", "securityContext"),
        ],
        "ClusterEvent": [
            ("id", 1, "string", "singular", "id"),
            ("name", 2, "string", "singular", "name"),
            ("created_at", 3, "google.protobuf.Timestamp", "singular", "createdAt"),
            ("first_timestamp", 4, "google.protobuf.Timestamp", "singular", "firstTimestamp"),
            ("last_timestamp", 5, "google.protobuf.Timestamp", "singular", "lastTimestamp"),
            ("reason", 6, "string", "singular", "reason"),
            ("message", 7, "string", "singular", "message"),
            ("type", 8, "string", "singular", "type"),
            ("count", 9, "int32", "singular", "count"),
        ],
    },
    "config.proto": {
        "CreateComputeTemplateRequest": [
            ("compute_template", 1, "proto.ComputeTemplate", "singular", "computeTemplate"),
            ("namespace", 2, "string", "singular", "namespace"),
        ],
        "GetComputeTemplateRequest": [
            ("name", 1, "string", "singular", "name"),
            ("namespace", 2, "string", "singular", "namespace"),
        ],
        "ListComputeTemplatesRequest": [
            ("namespace", 1, "string", "singular", "namespace"),
        ],
        "ListComputeTemplatesResponse": [
            ("compute_templates", 1, "proto.ComputeTemplate", "repeated", "computeTemplates"),
        ],
        "ListAllComputeTemplatesRequest": [],
        "ListAllComputeTemplatesResponse": [
            ("compute_templates", 1, "proto.ComputeTemplate", "repeated", "computeTemplates"),
        ],
        "DeleteComputeTemplateRequest": [
            ("name", 1, "string", "singular", "name"),
            ("namespace", 2, "string", "singular", "namespace"),
        ],
        "PodToleration": [
            ("key", 1, "string", "singular", "key"),
            ("operator", 2, "string", "singular", "operator"),
            ("value", 3, "string", "singular", "value"),
            ("effect", 4, "string", "singular", "effect"),
        ],
        "ComputeTemplate": [
            ("name", 1, "string", "singular", "name"),
            ("namespace", 2, "string", "singular", "namespace"),
            ("cpu", 3, "uint32", "singular", "cpu"),
            ("memory", 4, "uint32", "singular", "memory"),
            ("gpu", 5, "uint32", "singular", "gpu"),
            ("gpu_accelerator", 6, "string", "singular", "gpuAccelerator"),
            ("tolerations", 7, "proto.PodToleration", "repeated", "tolerations"),
            ("extended_resources", 8, "map<string, uint32>", "map", "extendedResources"),
            ("memory_unit", 9, "string", "singular", "memoryUnit"),
        ],
        "CreateImageTemplateRequest": [
            ("image_template", 1, "proto.ImageTemplate", "singular", "imageTemplate"),
            ("namespace", 2, "string", "singular", "namespace"),
        ],
        "GetImageTemplateRequest": [
            ("name", 1, "string", "singular", "name"),
            ("namespace", 2, "string", "singular", "namespace"),
        ],
        "ListImageTemplatesRequest": [
            ("namespace", 1, "string", "singular", "namespace"),
        ],
        "ListImageTemplatesResponse": [
            ("image_templates", 1, "proto.ImageTemplate", "repeated", "imageTemplates"),
        ],
        "ListAllImageTemplatesRequest": [],
        "ListAllImageTemplatesResponse": [
            ("image_templates", 1, "proto.ImageTemplate", "repeated", "imageTemplates"),
        ],
        "DeleteImageTemplateRequest": [
            ("name", 1, "string", "singular", "name"),
            ("namespace", 2, "string", "singular", "namespace"),
        ],
        "ImageTemplate": [
            ("name", 1, "string", "singular", "name"),
            ("namespace", 2, "string", "singular", "namespace"),
            ("base_image", 3, "string", "singular", "baseImage"),
            ("pip_packages", 4, "string", "repeated", "pipPackages"),
            ("conda_packages", 5, "string", "repeated", "condaPackages"),
            ("system_packages", 6, "string", "repeated", "systemPackages"),
            ("environment_variables", 7, "map<string, string>", "map", "environmentVariables"),
            ("custom_commands", 8, "string", "singular", "customCommands"),
            ("image", 9, "string", "singular", "image"),
        ],
    },
    "error.proto": {
        "Status": [
            ("error", 1, "string", "singular", "error"),
            ("code", 2, "int32", "singular", "code"),
            ("details", 3, "google.protobuf.Any", "repeated", "details"),
        ],
    },
    "job.proto": {
        "CreateRayJobRequest": [
            ("job", 1, "proto.RayJob", "singular", "job"),
            ("namespace", 2, "string", "singular", "namespace"),
        ],
        "GetRayJobRequest": [
            ("name", 1, "string", "singular", "name"),
            ("namespace", 2, "string", "singular", "namespace"),
        ],
        "ListRayJobsRequest": [
            ("namespace", 1, "string", "singular", "namespace"),
            ("continue", 2, "string", "singular", "continue"),
            ("limit", 3, "int64", "singular", "limit"),
        ],
        "ListRayJobsResponse": [
            ("jobs", 1, "proto.RayJob", "repeated", "jobs"),
            ("continue", 2, "string", "singular", "continue"),
        ],
        "ListAllRayJobsRequest": [
            ("continue", 1, "string", "singular", "continue"),
            ("limit", 2, "int64", "singular", "limit"),
        ],
        "ListAllRayJobsResponse": [
            ("jobs", 1, "proto.RayJob", "repeated", "jobs"),
            ("continue", 2, "string", "singular", "continue"),
        ],
        "DeleteRayJobRequest": [
            ("name", 1, "string", "singular", "name"),
            ("namespace", 2, "string", "singular", "namespace"),
        ],
        "RayJobSubmitter": [
            ("image", 1, "string", "singular", "image"),
            ("cpu", 2, "string", "singular", "cpu"),
            ("memory", 3, "string", "singular", "memory"),
        ],
        "RayJob": [
            ("name", 1, "string", "singular", "name"),
            ("namespace", 2, "string", "singular", "namespace"),
            ("user", 3, "string", "singular", "user"),
            ("entrypoint", 4, "string", "singular", "entrypoint"),
            ("metadata", 5, "map<string, string>", "map", "metadata"),
            ("runtime_env", 6, "string", "singular", "runtimeEnv"),
            ("job_id", 7, "string", "singular", "jobId"),
            ("shutdown_after_job_finishes", 8, "bool", "singular", "shutdownAfterJobFinishes"),
            ("cluster_selector", 9, "map<string, string>", "map", "clusterSelector"),
            ("cluster_spec", 10, "proto.ClusterSpec", "singular", "clusterSpec"),
            ("ttl_seconds_after_finished", 11, "int32", "singular", "ttlSecondsAfterFinished"),
            ("created_at", 12, "google.protobuf.Timestamp", "singular", "createdAt"),
            ("delete_at", 13, "google.protobuf.Timestamp", "singular", "deleteAt"),
            ("job_status", 14, "string", "singular", "jobStatus"),
            ("job_deployment_status", 15, "string", "singular", "jobDeploymentStatus"),
            ("message", 16, "string", "singular", "message"),
            ("jobSubmitter", 17, "proto.RayJobSubmitter", "singular", "jobSubmitter"),
            ("entrypointNumCpus", 18, "float", "singular", "entrypointNumCpus"),
            ("entrypointNumGpus", 19, "float", "singular", "entrypointNumGpus"),
            ("entrypointResources", 20, "string", "singular", "entrypointResources"),
            ("version", 21, "string", "singular", "version"),
            ("start_time", 22, "google.protobuf.Timestamp", "singular", "startTime"),
            ("end_time", 23, "google.protobuf.Timestamp", "singular", "endTime"),
            ("ray_cluster_name", 24, "string", "singular", "rayClusterName"),
            ("activeDeadlineSeconds", 25, "int32", "singular", "activeDeadlineSeconds"),
        ],
    },
    "job_submission.proto": {
        "SubmitRayJobRequest": [
            ("namespace", 1, "string", "singular", "namespace"),
            ("clustername", 2, "string", "singular", "clustername"),
            ("jobsubmission", 3, "proto.RayJobSubmission", "singular", "jobsubmission"),
        ],
        "SubmitRayJobReply": [
            ("submission_id", 1, "string", "singular", "submissionId"),
        ],
        "GetJobDetailsRequest": [
            ("namespace", 1, "string", "singular", "namespace"),
            ("clustername", 2, "string", "singular", "clustername"),
            ("submissionid", 3, "string", "singular", "submissionid"),
        ],
        "GetJobLogRequest": [
            ("namespace", 1, "string", "singular", "namespace"),
            ("clustername", 2, "string", "singular", "clustername"),
            ("submissionid", 3, "string", "singular", "submissionid"),
        ],
        "GetJobLogReply": [
            ("log", 1, "string", "singular", "log"),
        ],
        "ListJobDetailsRequest": [
            ("namespace", 1, "string", "singular", "namespace"),
            ("clustername", 2, "string", "singular", "clustername"),
        ],
        "ListJobSubmissionInfo": [
            ("submissions", 1, "proto.JobSubmissionInfo", "repeated", "submissions"),
        ],
        "StopRayJobSubmissionRequest": [
            ("namespace", 1, "string", "singular", "namespace"),
            ("clustername", 2, "string", "singular", "clustername"),
            ("submissionid", 3, "string", "singular", "submissionid"),
        ],
        "DeleteRayJobSubmissionRequest": [
            ("namespace", 1, "string", "singular", "namespace"),
            ("clustername", 2, "string", "singular", "clustername"),
            ("submissionid", 3, "string", "singular", "submissionid"),
        ],
        "RayJobSubmission": [
            ("entrypoint", 1, "string", "singular", "entrypoint"),
            ("submission_id", 2, "string", "singular", "submissionId"),
            ("metadata", 3, "map<string, string>", "map", "metadata"),
            ("runtime_env", 4, "string", "singular", "runtimeEnv"),
            ("entrypoint_num_cpus", 5, "float", "singular", "entrypointNumCpus"),
            ("entrypoint_num_gpus", 6, "float", "singular", "entrypointNumGpus"),
            ("entrypoint_resources", 7, "map<string, string>", "map", "entrypointResources"),
        ],
        "JobSubmissionInfo": [
            ("entrypoint", 1, "string", "singular", "entrypoint"),
            ("job_id", 2, "string", "singular", "jobId"),
            ("submission_id", 3, "string", "singular", "submissionId"),
            ("status", 4, "string", "singular", "status"),
            ("message", 5, "string", "singular", "message"),
            ("error_type", 6, "string", "singular", "errorType"),
            ("start_time", 7, "uint64", "singular", "startTime"),
            ("end_time", 8, "uint64", "singular", "endTime"),
            ("metadata", 9, "map<string, string>", "map", "metadata"),
            ("runtime_env", 10, "map<string, string>", "map", "runtimeEnv"),
        ],
    },
    "serve.proto": {
        "CreateRayServiceRequest": [
            ("service", 1, "proto.RayService", "singular", "service"),
            ("namespace", 2, "string", "singular", "namespace"),
        ],
        "UpdateRayServiceRequest": [
            ("service", 1, "proto.RayService", "singular", "service"),
            ("namespace", 2, "string", "singular", "namespace"),
            ("name", 3, "string", "singular", "name"),
        ],
        "GetRayServiceRequest": [
            ("name", 1, "string", "singular", "name"),
            ("namespace", 2, "string", "singular", "namespace"),
        ],
        "ListRayServicesRequest": [
            ("namespace", 1, "string", "singular", "namespace"),
            ("page_token", 2, "string", "singular", "pageToken"),
            ("page_size", 3, "int32", "singular", "pageSize"),
        ],
        "ListRayServicesResponse": [
            ("services", 1, "proto.RayService", "repeated", "services"),
            ("total_size", 2, "int32", "singular", "totalSize"),
            ("next_page_token", 3, "string", "singular", "nextPageToken"),
        ],
        "ListAllRayServicesRequest": [
            ("page_token", 1, "string", "singular", "pageToken"),
            ("page_size", 2, "int32", "singular", "pageSize"),
        ],
        "ListAllRayServicesResponse": [
            ("services", 1, "proto.RayService", "repeated", "services"),
            ("total_size", 2, "int32", "singular", "totalSize"),
            ("next_page_token", 3, "string", "singular", "nextPageToken"),
        ],
        "DeleteRayServiceRequest": [
            ("name", 1, "string", "singular", "name"),
            ("namespace", 2, "string", "singular", "namespace"),
        ],
        "RayService": [
            ("name", 1, "string", "singular", "name"),
            ("namespace", 2, "string", "singular", "namespace"),
            ("user", 3, "string", "singular", "user"),
            ("serve_deployment_graph_spec", 4, "proto.ServeDeploymentGraphSpec", "singular", "serveDeploymentGraphSpec"),
            ("cluster_spec", 5, "proto.ClusterSpec", "singular", "clusterSpec"),
            ("ray_service_status", 6, "proto.RayServiceStatus", "singular", "rayServiceStatus"),
            ("created_at", 7, "google.protobuf.Timestamp", "singular", "createdAt"),
            ("delete_at", 8, "google.protobuf.Timestamp", "singular", "deleteAt"),
            ("serve_config_V2", 9, "string", "singular", "serveConfigV2"),
            ("service_unhealthy_second_threshold", 10, "int32", "singular", "serviceUnhealthySecondThreshold"),
            ("deployment_unhealthy_second_threshold", 11, "int32", "singular", "deploymentUnhealthySecondThreshold"),
            ("version", 12, "string", "singular", "version"),
        ],
        # v1.0.0's Serve config (proto/serve.proto@v1.0.0), which the server still takes, as its HTTP API does
        "ServeDeploymentGraphSpec": [
            ("import_path", 1, "string", "singular", "importPath"),
            ("runtime_env", 2, "string", "singular", "runtimeEnv"),
            ("serve_configs", 3, "proto.ServeConfig", "repeated", "serveConfigs"),
        ],
        "ServeConfig": [
            ("deployment_name", 1, "string", "singular", "deploymentName"),
            ("replicas", 2, "int32", "singular", "replicas"),
            ("route_prefix", 3, "string", "singular", "routePrefix"),
            ("max_concurrent_queries", 4, "int32", "singular", "maxConcurrentQueries"),
            ("user_config", 5, "string", "singular", "userConfig"),
            ("autoscaling_config", 6, "string", "singular", "autoscalingConfig"),
            ("actor_options", 7, "proto.ActorOptions", "singular", "actorOptions"),
        ],
        "ActorOptions": [
            ("runtime_env", 1, "string", "singular", "runtimeEnv"),
            ("cpus_per_actor", 2, "double", "singular", "cpusPerActor"),
            ("gpus_per_actor", 3, "double", "singular", "gpusPerActor"),
            ("memory_per_actor", 4, "uint64", "singular", "memoryPerActor"),
            ("object_store_memory_per_actor", 5, "uint64", "singular", "objectStoreMemoryPerActor"),
            ("custom_resource", 6, "string", "singular", "customResource"),
            ("acccelerator_type", 7, "string", "singular", "accceleratorType"),
        ],
        "RayServiceStatus": [
            ("application_status", 1, "string", "singular", "applicationStatus"),
            ("application_message", 2, "string", "singular", "applicationMessage"),
            ("serve_deployment_status", 3, "proto.ServeDeploymentStatus", "repeated", "serveDeploymentStatus"),
            ("ray_service_events", 4, "proto.RayServiceEvent", "repeated", "rayServiceEvents"),
            ("ray_cluster_name", 5, "string", "singular", "rayClusterName"),
            ("ray_cluster_state", 6, "string", "singular", "rayClusterState"),
            ("service_endpoint", 7, "map<string, string>", "map", "serviceEndpoint"),
            ("serve_application_status", 8, "proto.ServeApplicationStatus", "repeated", "serveApplicationStatus"),
        ],
        "ServeApplicationStatus": [
            ("name", 1, "string", "singular", "name"),
            ("status", 2, "string", "singular", "status"),
            ("message", 3, "string", "singular", "message"),
            ("serve_deployment_status", 4, "proto.ServeDeploymentStatus", "repeated", "serveDeploymentStatus"),
        ],
        "ServeDeploymentStatus": [
            ("deployment_name", 1, "string", "singular", "deploymentName"),
            ("status", 2, "string", "singular", "status"),
            ("message", 3, "string", "singular", "message"),
        ],
        "RayServiceEvent": [
            ("id", 1, "string", "singular", "id"),
            ("name", 2, "string", "singular", "name"),
            ("created_at", 3, "google.protobuf.Timestamp", "singular", "createdAt"),
            ("first_timestamp", 4, "google.protobuf.Timestamp", "singular", "firstTimestamp"),
            ("last_timestamp", 5, "google.protobuf.Timestamp", "singular", "lastTimestamp"),
            ("reason", 6, "string", "singular", "reason"),
            ("message", 7, "string", "singular", "message"),
            ("type", 8, "string", "singular", "type"),
            ("count", 9, "int32", "singular", "count"),
        ],
        "WorkerGroupUpdateSpec": [
            ("group_name", 1, "string", "singular", "groupName"),
            ("replicas", 2, "int32", "singular", "replicas"),
            ("min_replicas", 3, "int32", "singular", "minReplicas"),
            ("max_replicas", 4, "int32", "singular", "maxReplicas"),
        ],

    },
}

ENUMS: dict[str, list[tuple[str, int]]] = {
    "proto.EnvValueFrom.Source": [("CONFIGMAP", 0), ("SECRET", 1), ("RESOURCEFIELD", 2), ("FIELD", 3)],
    "proto.Cluster.Environment": [("DEV", 0), ("TESTING", 1), ("STAGING", 2), ("PRODUCTION", 3)],
    "proto.Volume.VolumeType": [("PERSISTENT_VOLUME_CLAIM", 0), ("HOST_PATH", 1), ("EPHEMERAL", 2), ("CONFIGMAP", 3), ("SECRET", 4), ("EMPTY_DIR", 5)],
    "proto.Volume.HostPathType": [("DIRECTORY", 0), ("FILE", 1)],
    "proto.Volume.MountPropagationMode": [("NONE", 0), ("HOSTTOCONTAINER", 1), ("BIDIRECTIONAL", 2)],
    "proto.Volume.AccessMode": [("RWO", 0), ("ROX", 1), ("RWX", 2)],
}

EMPTY = "google.protobuf.Empty"

# Services by file: each method as (name, input type, output type), in the order declared.
SERVICES: dict[str, dict[str, list[tuple[str, str, str]]]] = {
    "cluster.proto": {
        "proto.ClusterService": [
            ("CreateCluster", "proto.CreateClusterRequest", "proto.Cluster"),
            ("GetCluster", "proto.GetClusterRequest", "proto.Cluster"),
            ("ListCluster", "proto.ListClustersRequest", "proto.ListClustersResponse"),
            ("ListAllClusters", "proto.ListAllClustersRequest", "proto.ListAllClustersResponse"),
            ("DeleteCluster", "proto.DeleteClusterRequest", EMPTY),
        ],
    },
    "config.proto": {
        "proto.ComputeTemplateService": [
            ("CreateComputeTemplate", "proto.CreateComputeTemplateRequest", "proto.ComputeTemplate"),
            ("GetComputeTemplate", "proto.GetComputeTemplateRequest", "proto.ComputeTemplate"),
            ("ListComputeTemplates", "proto.ListComputeTemplatesRequest", "proto.ListComputeTemplatesResponse"),
            ("ListAllComputeTemplates", "proto.ListAllComputeTemplatesRequest", "proto.ListAllComputeTemplatesResponse"),
            ("DeleteComputeTemplate", "proto.DeleteComputeTemplateRequest", EMPTY),
        ],
        "proto.ImageTemplateService": [
            ("CreateImageTemplate", "proto.CreateImageTemplateRequest", "proto.ImageTemplate"),
            ("GetImageTemplate", "proto.GetImageTemplateRequest", "proto.ImageTemplate"),
            ("ListImageTemplates", "proto.ListImageTemplatesRequest", "proto.ListImageTemplatesResponse"),
            ("DeleteImageTemplate", "proto.DeleteImageTemplateRequest", EMPTY),
        ],
    },
    "error.proto": {},
    "job.proto": {
        "proto.RayJobService": [
            ("CreateRayJob", "proto.CreateRayJobRequest", "proto.RayJob"),
            ("GetRayJob", "proto.GetRayJobRequest", "proto.RayJob"),
            ("ListRayJobs", "proto.ListRayJobsRequest", "proto.ListRayJobsResponse"),
            ("ListAllRayJobs", "proto.ListAllRayJobsRequest", "proto.ListAllRayJobsResponse"),
            ("DeleteRayJob", "proto.DeleteRayJobRequest", EMPTY),
        ],
    },
    "job_submission.proto": {
        "proto.RayJobSubmissionService": [
            ("SubmitRayJob", "proto.SubmitRayJobRequest", "proto.SubmitRayJobReply"),
            ("GetJobDetails", "proto.GetJobDetailsRequest", "proto.JobSubmissionInfo"),
            ("GetJobLog", "proto.GetJobLogRequest", "proto.GetJobLogReply"),
            ("ListJobDetails", "proto.ListJobDetailsRequest", "proto.ListJobSubmissionInfo"),
            ("StopRayJob", "proto.StopRayJobSubmissionRequest", EMPTY),
            ("DeleteRayJob", "proto.DeleteRayJobSubmissionRequest", EMPTY),
        ],
    },
    "serve.proto": {
        "proto.RayServeService": [
            ("CreateRayService", "proto.CreateRayServiceRequest", "proto.RayService"),
            ("UpdateRayService", "proto.UpdateRayServiceRequest", "proto.RayService"),
            ("GetRayService", "proto.GetRayServiceRequest", "proto.RayService"),
            ("ListRayServices", "proto.ListRayServicesRequest", "proto.ListRayServicesResponse"),
            ("ListAllRayServices", "proto.ListAllRayServicesRequest", "proto.ListAllRayServicesResponse"),
            ("DeleteRayService", "proto.DeleteRayServiceRequest", EMPTY),
        ],
    },
}

IMPORTS = {  # the files each file imports, in order
    "cluster.proto": ["google/protobuf/empty.proto", "google/protobuf/timestamp.proto"],
    "config.proto": ["google/protobuf/empty.proto"],
    "error.proto": ["google/protobuf/any.proto"],
    "job.proto": ["google/protobuf/empty.proto", "google/protobuf/timestamp.proto", "cluster.proto"],
    "job_submission.proto": ["google/protobuf/empty.proto"],
    "serve.proto": ["google/protobuf/empty.proto", "google/protobuf/timestamp.proto", "cluster.proto"],
}

ROWS: dict[str, list[Row]] = {f"proto.{name}": rows for messages in MESSAGES.values() for name, rows in messages.items()}
FIELD_ROWS = [(message, row) for message, rows in ROWS.items() for row in rows]
CLASSES: dict[str, type[Message]] = {
    f"proto.{name}": getattr(module, name)
    for module, _ in MODULES.values()
    for name in module.DESCRIPTOR.message_types_by_name
} | {"google.protobuf.Timestamp": timestamp_pb2.Timestamp, "google.protobuf.Any": any_pb2.Any}


# A tiny hand-written encoder of the protobuf wire format, independent of the library under test.

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5


def varint(n: int) -> bytes:
    """Base-128, low group first; a negative int32 or int64 goes as its 64-bit two's complement (ten bytes)."""
    n &= (1 << 64) - 1
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def field(number: int, wire_type: int, raw: bytes) -> bytes:
    """Key (number << 3 | wire type), then the value; a length-delimited value gets its length first."""
    return varint(number << 3 | wire_type) + (varint(len(raw)) + raw if wire_type == LEN else raw)


def len_field(number: int, payload: bytes) -> bytes:
    return field(number, LEN, payload)


def str_field(number: int, text: str) -> bytes:
    return field(number, LEN, text.encode("utf-8"))


def int_field(number: int, n: int) -> bytes:
    return field(number, VARINT, varint(n))


def map_entry(number: int, key: str, value: str) -> bytes:
    """One entry of a map<string, string>: a sub-message with the key as field 1 and the value as field 2."""
    return len_field(number, str_field(1, key) + str_field(2, value))


# Distinctive values: each is out of range of the types it could be mistaken for where it can be (int64 too
# large for int32, uint64 too large for int64, negatives refused by the unsigned types); what the bytes cannot
# tell apart (say int32 and int64 with the same value) the descriptor test compares by type name.
SCALARS: dict[str, Any] = {
    "string": "ray é",  # not ASCII: a length counts UTF-8 bytes
    "bytes": b"\x00\xff",
    "bool": True,
    "int32": -150_000,
    "int64": -(2**40),
    "uint32": 2**32 - 3,
    "uint64": 2**64 - 5,
    "float": 2.5,
    "double": -0.125,
}
TIMESTAMP = timestamp_pb2.Timestamp(seconds=1_700_000_000, nanos=500)
ANY = any_pb2.Any(type_url="type.googleapis.com/proto.Status", value=b"\x10\x05")  # a proto.Status with code 5
WELL_KNOWN: dict[str, tuple[Message, bytes]] = {
    "google.protobuf.Timestamp": (TIMESTAMP, int_field(1, 1_700_000_000) + int_field(2, 500)),
    "google.protobuf.Any": (ANY, str_field(1, "type.googleapis.com/proto.Status") + len_field(2, b"\x10\x05")),
}
MAP = re.compile(r"map<(\S+), (\S+)>")


def scalar(type_name: str, value: Any) -> tuple[int, bytes]:
    """The wire type and the raw encoding (no key, no length) of a scalar or enum value."""
    if type_name == "string":
        return LEN, value.encode("utf-8")
    if type_name == "bytes":
        return LEN, value
    if type_name == "float":
        return FIXED32, struct.pack("<f", value)
    if type_name == "double":
        return FIXED64, struct.pack("<d", value)
    return VARINT, varint(int(value))  # bool, the integers, enums


def sample(type_name: str) -> tuple[Any, int, bytes]:
    """A distinctive non-default value of a type, to set through the generated classes, and its wire
    type and raw encoding built by hand. A message of ours gets its first field (by number) set."""
    if type_name in SCALARS:
        return (SCALARS[type_name], *scalar(type_name, SCALARS[type_name]))
    if type_name in ENUMS:
        number = ENUMS[type_name][-1][1]  # the last value: never the zero default
        return (number, *scalar("enum", number))
    if type_name in WELL_KNOWN:
        return (*WELL_KNOWN[type_name][:1], LEN, WELL_KNOWN[type_name][1])
    first = min(ROWS[type_name], key=lambda row: row[1])
    value, encoded = field_sample(first)
    return CLASSES[type_name](**{first[0]: value}), LEN, encoded


def field_sample(row: Row) -> tuple[Any, bytes]:
    """A value for one field, shaped by its label, and the whole field encoded by hand."""
    _, number, type_name, label, _ = row
    if label == "optional":  # explicit presence: the zero value set is still sent
        zero = type(SCALARS[type_name])()
        return zero, field(number, *scalar(type_name, zero))
    if label == "map":
        match = MAP.fullmatch(type_name)
        assert match, type_name
        key, key_wire, key_raw = sample(match[1])
        value, value_wire, value_raw = sample(match[2])
        return {key: value}, len_field(number, field(1, key_wire, key_raw) + field(2, value_wire, value_raw))
    value, wire_type, raw = sample(type_name)
    if label == "repeated":
        if wire_type != LEN:  # proto3 packs repeated numbers: one length-delimited run
            return [value, value], len_field(number, raw + raw)
        return [value, value], field(number, wire_type, raw) * 2
    assert label == "singular", row
    return value, field(number, wire_type, raw)


def serialize(message: Message) -> bytes:
    return message.SerializeToString(deterministic=True)  # deterministic: map entries sorted by key


# The tests.


def _files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir()) if path.is_file()}


def test_generated_modules_are_current(tmp_path: Path) -> None:
    generate(tmp_path)
    fresh, committed = _files(tmp_path), _files(GENERATED)
    stale = sorted(name for name in fresh.keys() | committed.keys() if fresh.get(name) != committed.get(name))
    assert stale == [], f"app/rpc/generated/ is not what proto/ generates ({', '.join(stale)}): run python scripts/gen_protos.py"


PAST_RANGE = {"int32": 2**31, "int64": 2**63, "uint32": 2**32, "uint64": 2**64}  # the first value each refuses


@pytest.mark.parametrize(("message", "row"), FIELD_ROWS, ids=[f"{m.removeprefix('proto.')}.{r[0]}" for m, r in FIELD_ROWS])
def test_field_bytes(message: str, row: Row) -> None:
    """Only this field set: the bytes are the hand-built ones, and they parse back to the same message."""
    name, _, type_name, label, _ = row
    value, expected = field_sample(row)
    built = CLASSES[message](**{name: value})
    assert serialize(built) == expected
    assert CLASSES[message].FromString(expected) == built
    if label == "singular" and type_name in PAST_RANGE:  # a wider integer type would encode the sample alike
        with pytest.raises(ValueError, match="out of range"):
            CLASSES[message](**{name: PAST_RANGE[type_name]})
    if label == "singular" and type_name in ENUMS:  # an integer type would too, but takes no value name
        assert serialize(CLASSES[message](**{name: ENUMS[type_name][-1][0]})) == expected


def _type_name(field: FieldDescriptor) -> str:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        entry = field.message_type
        assert entry is not None
        if entry.GetOptions().map_entry:
            key, value = entry.fields_by_name["key"], entry.fields_by_name["value"]
            return f"map<{_type_name(key)}, {_type_name(value)}>"
        return entry.full_name
    if field.type == FieldDescriptor.TYPE_ENUM:
        assert field.enum_type is not None
        return field.enum_type.full_name
    names = {getattr(FieldDescriptor, f"TYPE_{name.upper()}"): name for name in SCALARS}
    return names.get(field.type, f"type {field.type}")


def _label(field: FieldDescriptor) -> str:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        assert field.message_type is not None
        if field.message_type.GetOptions().map_entry:
            return "map"
    if field.is_repeated:
        return "repeated"
    return "optional" if field.containing_oneof is not None else "singular"  # no oneofs but proto3 optional's


def _messages() -> Iterator[tuple[str, Descriptor]]:
    for file, (module, _) in MODULES.items():
        for descriptor in module.DESCRIPTOR.message_types_by_name.values():
            yield file, descriptor


def test_table_and_descriptors_agree() -> None:
    """Every declared field has a table row with its number, type, label and JSON name, and the reverse."""
    declared = {
        (descriptor.full_name, f.name): (f.number, _type_name(f), _label(f), f.json_name)
        for _, descriptor in _messages()
        for f in descriptor.fields
    }
    table = {(message, name): (number, type_name, label, json) for message, (name, number, type_name, label, json) in FIELD_ROWS}
    assert sorted(declared.keys() - table.keys()) == [], "declared fields missing from the table"
    assert sorted(table.keys() - declared.keys()) == [], "table rows the protos do not declare"
    assert {key: (declared[key], row) for key, row in table.items() if declared[key] != row} == {}


def test_messages_by_file() -> None:
    declared: dict[str, list[str]] = {file: [] for file in MODULES}
    for file, descriptor in _messages():
        declared[file].append(descriptor.name)
        nested = [nested.name for nested in descriptor.nested_types if not nested.GetOptions().map_entry]
        assert nested == [], f"{descriptor.full_name}: no nested messages but map entries"
    assert {file: sorted(names) for file, names in declared.items()} == {file: sorted(messages) for file, messages in MESSAGES.items()}


def test_files() -> None:
    for file, (module, _) in MODULES.items():
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        assert (proto.name, proto.package, proto.syntax) == (file, "proto", "proto3")
        assert proto.options.go_package == "github.com/ray-project/kuberay/proto/go_client"
        assert list(proto.dependency) == IMPORTS[file]


def test_rayservice_deprecated_fields() -> None:
    deprecated = [(d.name, f.name) for _, d in _messages() for f in d.fields if f.GetOptions().deprecated]
    assert deprecated == [("RayService", "serve_deployment_graph_spec"), ("RayService", "service_unhealthy_second_threshold"),
                          ("RayService", "deployment_unhealthy_second_threshold")]


def test_services() -> None:
    for file, (module, stubs) in MODULES.items():
        declared = {
            service.full_name: [(m.name, m.input_type.full_name, m.output_type.full_name) for m in service.methods]
            for service in module.DESCRIPTOR.services_by_name.values()
        }
        assert declared == SERVICES[file], file
        for service in module.DESCRIPTOR.services_by_name.values():
            assert not any(m.client_streaming or m.server_streaming for m in service.methods)
            for name in (f"{service.name}Stub", f"{service.name}Servicer", f"add_{service.name}Servicer_to_server"):
                assert hasattr(stubs, name), f"{stubs.__name__}.{name}"


def _enums(descriptor: Descriptor) -> Iterator[EnumDescriptor]:
    yield from descriptor.enum_types
    for nested in descriptor.nested_types:
        yield from _enums(nested)


def test_enums() -> None:
    declared = {enum.full_name: enum for _, descriptor in _messages() for enum in _enums(descriptor)}
    assert all(not module.DESCRIPTOR.enum_types_by_name for module, _ in MODULES.values()), "no top-level enums"
    assert {name: [(v.name, v.number) for v in enum.values] for name, enum in declared.items()} == ENUMS
    assert not any(enum.is_closed for enum in declared.values())  # proto3: unknown numbers are kept


@pytest.mark.parametrize("message", sorted(ROWS))
def test_json_names(message: str) -> None:
    """With every field set, MessageToDict answers exactly the table's JSON names."""
    rows = ROWS[message]
    built = CLASSES[message](**{row[0]: field_sample(row)[0] for row in rows})
    assert sorted(json_format.MessageToDict(built)) == sorted(row[4] for row in rows)
    fields = built.DESCRIPTOR.fields_by_name
    assert {row[0]: fields[row[0]].json_name for row in rows} == {row[0]: row[4] for row in rows}


# Whole messages with nesting, against bytes built by hand.


def test_cluster_round_trip() -> None:
    c = cluster_pb2
    cluster = c.Cluster(
        name="demo",
        namespace="ray",
        environment=c.Cluster.PRODUCTION,
        cluster_spec=c.ClusterSpec(
            head_group_spec=c.HeadGroupSpec(
                compute_template="small",
                ray_start_params={"num-cpus": "0", "dashboard-host": "0.0.0.0"},
                volumes=[c.Volume(mount_path="/data", volume_type=c.Volume.HOST_PATH, source="/mnt", host_path_type=c.Volume.FILE)],
                environment=c.EnvironmentVariables(
                    values={"A": "1"},
                    valuesFrom={"B": c.EnvValueFrom(source=c.EnvValueFrom.SECRET, name="creds", key="token")},
                ),
                security_context=c.SecurityContext(capabilities=c.Capabilities(add=["NET_ADMIN"]), privileged=False),
            ),
            worker_group_spec=[
                c.WorkerGroupSpec(
                    group_name="workers",
                    compute_template="small",
                    replicas=2,
                    max_replicas=4,
                    volumes=[c.Volume(mount_path="/cfg", volume_type=c.Volume.CONFIGMAP, name="cfg", source="cm", items={"k": "v"})],
                ),
            ],
            enableInTreeAutoscaling=True,
        ),
        created_at=timestamp_pb2.Timestamp(seconds=1_700_000_000),
    )
    head = (
        str_field(1, "small")
        + map_entry(5, "dashboard-host", "0.0.0.0")
        + map_entry(5, "num-cpus", "0")
        + len_field(6, str_field(1, "/data") + int_field(2, 1) + str_field(4, "/mnt") + int_field(6, 1))
        + len_field(9, map_entry(1, "A", "1") + len_field(2, str_field(1, "B") + len_field(2, int_field(1, 1) + str_field(2, "creds") + str_field(3, "token"))))
        + len_field(13, len_field(1, str_field(1, "NET_ADMIN")) + int_field(2, 0))
    )
    worker = (
        str_field(1, "workers")
        + str_field(2, "small")
        + int_field(4, 2)
        + int_field(6, 4)
        + len_field(8, str_field(1, "/cfg") + int_field(2, 3) + str_field(3, "cfg") + str_field(4, "cm") + map_entry(11, "k", "v"))
    )
    expected = (
        str_field(1, "demo")
        + str_field(2, "ray")
        + int_field(5, 3)
        + len_field(6, len_field(1, head) + len_field(2, worker) + int_field(3, 1))
        + len_field(9, int_field(1, 1_700_000_000))
    )
    assert serialize(cluster) == expected
    assert c.Cluster.FromString(expected) == cluster
    assert json_format.MessageToDict(cluster) == {
        "name": "demo",
        "namespace": "ray",
        "environment": "PRODUCTION",
        "clusterSpec": {
            "headGroupSpec": {
                "computeTemplate": "small",
                "rayStartParams": {"num-cpus": "0", "dashboard-host": "0.0.0.0"},
                "volumes": [{"mountPath": "/data", "volumeType": "HOST_PATH", "source": "/mnt", "hostPathType": "FILE"}],
                "environment": {"values": {"A": "1"}, "valuesFrom": {"B": {"source": "SECRET", "name": "creds", "key": "token"}}},
                "securityContext": {"capabilities": {"add": ["NET_ADMIN"]}, "privileged": False},
            },
            "workerGroupSpec": [
                {
                    "groupName": "workers",
                    "computeTemplate": "small",
                    "replicas": 2,
                    "maxReplicas": 4,
                    "volumes": [{"mountPath": "/cfg", "volumeType": "CONFIGMAP", "name": "cfg", "source": "cm", "items": {"k": "v"}}],
                },
            ],
            "enableInTreeAutoscaling": True,
        },
        "createdAt": "2023-11-14T22:13:20Z",
    }


def test_rayservice_round_trip() -> None:
    s = serve_pb2
    deployment = s.ServeDeploymentStatus(deployment_name="Model", status="HEALTHY")
    service = s.RayService(
        name="serve",
        namespace="ray",
        cluster_spec=cluster_pb2.ClusterSpec(head_group_spec=cluster_pb2.HeadGroupSpec(compute_template="small")),
        ray_service_status=s.RayServiceStatus(
            application_status="Running",
            ray_service_events=[s.RayServiceEvent(reason="Created", count=3, first_timestamp=timestamp_pb2.Timestamp(seconds=60))],
            service_endpoint={"serve": "8000", "dashboard": "8265"},
            serve_application_status=[s.ServeApplicationStatus(name="app", status="RUNNING", serve_deployment_status=[deployment])],
        ),
        serve_config_V2="applications: []",
        service_unhealthy_second_threshold=900,
        version="2.9.0",
    )
    status = (
        str_field(1, "Running")
        + len_field(4, len_field(4, int_field(1, 60)) + str_field(6, "Created") + int_field(9, 3))
        + map_entry(7, "dashboard", "8265")
        + map_entry(7, "serve", "8000")
        + len_field(8, str_field(1, "app") + str_field(2, "RUNNING") + len_field(4, str_field(1, "Model") + str_field(2, "HEALTHY")))
    )
    expected = (
        str_field(1, "serve")
        + str_field(2, "ray")
        + len_field(5, len_field(1, str_field(1, "small")))
        + len_field(6, status)
        + str_field(9, "applications: []")
        + int_field(10, 900)
        + str_field(12, "2.9.0")
    )
    assert serialize(service) == expected
    assert s.RayService.FromString(expected) == service
    assert json_format.MessageToDict(service)["serveConfigV2"] == "applications: []"


def test_job_submission_round_trip() -> None:
    """Floats go as four little-endian bytes; uint64 milliseconds as a varint."""
    js = job_submission_pb2
    reply = js.ListJobSubmissionInfo(
        submissions=[js.JobSubmissionInfo(submission_id="raysubmit_1", status="SUCCEEDED", start_time=1_699_442_662_879, runtime_env={"pip": "[requests]"})],
    )
    request = js.SubmitRayJobRequest(
        namespace="ray", clustername="demo", jobsubmission=js.RayJobSubmission(entrypoint="python main.py", entrypoint_num_cpus=0.5)
    )
    info = str_field(3, "raysubmit_1") + str_field(4, "SUCCEEDED") + int_field(7, 1_699_442_662_879) + map_entry(10, "pip", "[requests]")
    assert serialize(reply) == len_field(1, info)
    submission = str_field(1, "python main.py") + field(5, FIXED32, struct.pack("<f", 0.5))
    assert serialize(request) == str_field(1, "ray") + str_field(2, "demo") + len_field(3, submission)
    assert js.SubmitRayJobRequest.FromString(serialize(request)) == request
