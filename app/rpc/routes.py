"""Which RPC serves which operation of the spec, and how a request message becomes its arguments.

Each operation of openapi/kuberay.yaml names its RPC in `x-grpc` (`method`, in the service its tag
names, `body`: the request field that holds the body, as grpc-gateway's `body:` does). The other
fields of the request message are the operation's path and query parameters, by JSON name. The
request and response message types come from the protobuf descriptors (proto/, generated into
app/rpc/generated/); a service's protobuf package is its tag's `x-grpc-package` (the
extensions': kuberay_api.v1), else upstream's `proto`. So this table and the spec cannot
disagree on an RPC's shape unnoticed: `rpc_routes` fails at start-up when an `x-grpc` names an RPC the protos lack.

`arguments` and `answer` are pure: a request message in, the handler's keyword arguments out
(validated by the same schemas and phrased by the same functions as the HTTP front's), and a
handler's answer in, the response message out.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connexion.decorators.parameter import pythonic
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.message import Message

from app.errors import InvalidInput
from app.http.validators import body_problem, empty_parameter_problem, parameter_problem
from app.http.wire import Shape

# Importing the generated modules registers their descriptors in the default pool.
from app.rpc.generated import (  # noqa: F401
    cluster_pb2,
    config_pb2,
    cronjob_pb2,
    job_pb2,
    job_submission_pb2,
    serve_pb2,
)

PACKAGE = "proto"  # upstream's: a service whose tag names no `x-grpc-package` is in it


@dataclass(frozen=True)
class Param:
    """A path or query parameter: a field of the request message of the same JSON name."""

    name: str  # the spec's name, and the field's JSON name
    argument: str  # the handler's keyword, as Connexion names it (`continue` -> `continue_`)
    spec: Mapping[str, Any]  # the resolved parameter, for validation
    path: bool  # a path parameter: always passed ("" when unset), as a URL always has it

    @property
    def integer(self) -> bool:
        return bool(self.spec.get("schema", {}).get("type") == "integer")


@dataclass(frozen=True)
class Body:
    """The request field that holds the operation's body, with the body's schema and shape."""

    field: str  # the field's JSON name
    schema: Mapping[str, Any]  # the resolved request body schema, for validation
    shape: Shape  # what of a message's body the spec takes

    @classmethod
    def of(cls, field: str, schema: Mapping[str, Any]) -> Body:
        return cls(field=field, schema=schema, shape=Shape.of(schema))


@dataclass(frozen=True)
class RpcRoute:
    service: str  # full name: proto.ClusterService
    method: str  # CreateCluster
    operation_id: str
    params: tuple[Param, ...]
    body: Body | None  # None: the operation takes no body
    request: type[Message]
    empty: Mapping[str, str]  # the operation's `x-empty`: parameter -> refusal of an empty value
    response: type[Message]

    @property
    def path(self) -> str:
        """The method's path on the wire: /proto.ClusterService/CreateCluster."""
        return f"/{self.service}/{self.method}"

    def arguments(self, request: Message) -> dict[str, Any]:
        """The handler's keyword arguments for `request`, or `InvalidInput` with the HTTP front's
        message (a parameter named as the field it is). protojson's JSON names, enum numbers and
        omitted zero values are what HTTP bodies become too (app/http/wire.py), so both fronts
        validate the same dicts."""
        fields = json_format.MessageToDict(request, use_integers_for_enums=True)
        # An empty name first, with upstream's text, as its handlers and the HTTP front refuse it.
        problem = empty_parameter_problem(
            {param.name: str(fields.get(param.name, "")) for param in self.params if param.path}, self.empty)
        if problem is not None:
            raise InvalidInput(problem)
        kwargs: dict[str, Any] = {}
        for param in self.params:
            value = fields.get(param.name)
            if value is None:
                if not param.path:
                    continue
                value = ""  # proto3 cannot tell an unset string from an empty one
            if param.integer:
                value = int(value)  # int64 fields are JSON strings
            problem = parameter_problem(param.spec, value, f"Field '{param.name}'")
            if problem is not None:
                raise InvalidInput(problem)
            kwargs[param.argument] = value
        if self.body is not None:
            body = fields.get(self.body.field)
            if body is None:
                raise InvalidInput(f"Missing required field '{self.body.field}'.")
            body = self.body.shape.apply(body)  # fields the spec does not take (outputs) are dropped
            problem = body_problem(self.body.schema, body)
            if problem is not None:
                raise InvalidInput(problem)
            kwargs["body"] = body
        return kwargs

    def answer(self, answer: Mapping[str, Any]) -> Message:
        """The response message of a handler's answer (protojson's reading of the same JSON)."""
        return json_format.ParseDict(dict(answer), self.response())


def rpc_routes(spec: Mapping[str, Any]) -> list[RpcRoute]:
    """Every operation of the resolved spec that names an RPC, with its message types."""
    pool = descriptor_pool.Default()
    packages = service_packages(spec)
    routes: list[RpcRoute] = []
    for path_item in spec["paths"].values():
        shared = path_item.get("parameters", [])
        for verb, operation in path_item.items():
            if not isinstance(operation, dict) or "x-grpc" not in operation:
                continue
            rpc = operation["x-grpc"]
            tag = operation["tags"][0]
            service = pool.FindServiceByName(f"{packages.get(tag, PACKAGE)}.{tag}")
            method = service.methods_by_name.get(rpc["method"])
            if method is None:
                raise LookupError(f"{verb.upper()} {operation['operationId']}: {service.full_name} "
                                  f"has no RPC {rpc['method']}")
            params = tuple(
                Param(name=param["name"], argument=pythonic(param["name"]), spec=param,
                      path=param["in"] == "path")
                for param in [*shared, *operation.get("parameters", [])]
                if param["in"] in ("path", "query") and param["name"] in method.input_type.fields_by_camelcase_name
            )
            taken = {param.name for param in params} | {rpc.get("body")}
            ignored = [field.camelcase_name for field in method.input_type.fields if field.camelcase_name not in taken]
            if ignored:
                raise LookupError(f"{method.full_name}: the request fields {ignored} are no parameter "
                                  f"or body of {operation['operationId']}")
            body = None
            if "body" in rpc:
                body = Body.of(rpc["body"], operation["requestBody"]["content"]["application/json"]["schema"])
            routes.append(RpcRoute(
                service=service.full_name,
                method=method.name,
                operation_id=operation["operationId"],
                params=params,
                body=body,
                request=message_factory.GetMessageClass(method.input_type),
                empty=operation.get("x-empty", {}),
                response=message_factory.GetMessageClass(method.output_type),
            ))
    return routes


def service_packages(spec: Mapping[str, Any]) -> dict[str, str]:
    """The protobuf package of each tag (gRPC service) that names one in `x-grpc-package`."""
    return {tag["name"]: tag["x-grpc-package"] for tag in spec.get("tags", []) if "x-grpc-package" in tag}
