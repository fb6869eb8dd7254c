"""The calculator of the KubeRay user guide's RayService, written for Ray Serve 2.x.

POST a JSON list `[operation, value]`: `["ADD", 2]` answers 2 plus Adder's user_config `increment`,
`["MUL", 3]` answers 3 times Multiplier's user_config `factor`. The deployments carry the names the
guide's config lists (Adder, Multiplier, Router, create_order and the ingress DAGDriver), since Serve
refuses a config that names a deployment the application lacks. Each asks Ray for a tenth of a CPU
unless the config says otherwise (Serve's default is a whole one), so that the guide's services fit
the guide's small clusters.
"""
from __future__ import annotations

from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.requests import Request
from starlette.responses import JSONResponse

LIGHT = {"num_cpus": 0.1}
OPERATIONS = ("ADD", "MUL")


@serve.deployment(ray_actor_options=LIGHT)
class Adder:
    def __init__(self) -> None:
        self.increment: float = 3

    def reconfigure(self, config: dict[str, Any]) -> None:
        self.increment = config.get("increment", self.increment)

    def apply(self, value: float) -> float:
        return value + self.increment


@serve.deployment(ray_actor_options=LIGHT)
class Multiplier:
    def __init__(self) -> None:
        self.factor: float = 5

    def reconfigure(self, config: dict[str, Any]) -> None:
        self.factor = config.get("factor", self.factor)

    def apply(self, value: float) -> float:
        return value * self.factor


@serve.deployment(ray_actor_options=LIGHT)
def create_order(operation: str, value: float) -> dict[str, Any]:
    """The order a request makes: which operation, on what value."""
    return {"operation": operation.upper(), "value": value}


@serve.deployment(ray_actor_options=LIGHT)
class Router:
    """Sends an order to the deployment that does its operation."""

    def __init__(self, adder: DeploymentHandle, multiplier: DeploymentHandle) -> None:
        self.by_operation = {"ADD": adder, "MUL": multiplier}

    async def route(self, order: dict[str, Any]) -> float:
        return float(await self.by_operation[order["operation"]].apply.remote(order["value"]))


@serve.deployment(ray_actor_options=LIGHT)
class DAGDriver:
    """The ingress, under the name the guide's config gives it (Ray's own DAGDriver left Ray in
    2.10): reads the JSON body, makes the order and has it routed."""

    def __init__(self, create_order: DeploymentHandle, router: DeploymentHandle) -> None:
        self.create_order = create_order
        self.router = router

    async def __call__(self, request: Request) -> Any:
        try:
            operation, value = await request.json()
            value = float(value)
        except (ValueError, TypeError):
            return JSONResponse({"error": 'send a JSON list [operation, value], e.g. ["ADD", 2]'}, 400)
        if str(operation).upper() not in OPERATIONS:
            return JSONResponse({"error": f"unknown operation {operation}: one of {', '.join(OPERATIONS)}"}, 400)
        order = await self.create_order.remote(str(operation), value)
        result = await self.router.route.remote(order)
        return int(result) if result.is_integer() else result


serve_dag = DAGDriver.bind(create_order.bind(), Router.bind(Adder.bind(), Multiplier.bind()))
