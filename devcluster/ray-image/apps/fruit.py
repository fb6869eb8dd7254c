"""The fruit stand of the KubeRay user guide's RayService, written for Ray Serve 2.x.

POST a JSON list `[fruit, amount]`, e.g. `["MANGO", 2]`: the answer is that fruit's price (its stand's
user_config `price`) times the amount. The deployments carry the names the guide's config lists
(MangoStand, OrangeStand, PearStand, FruitMarket and the ingress DAGDriver), since Serve refuses a
config that names a deployment the application lacks. Each asks Ray for a tenth of a CPU unless
the config says otherwise (Serve's default is a whole one), so that the guide's services fit the
guide's small clusters.
"""
from __future__ import annotations

from typing import Any

from ray import serve
from ray.serve.handle import DeploymentHandle
from starlette.requests import Request
from starlette.responses import JSONResponse

LIGHT = {"num_cpus": 0.1}


class Stand:
    """Sells one fruit at the price its user_config sets (the guide's price until one is set)."""

    def __init__(self, price: float) -> None:
        self.price = price

    def reconfigure(self, config: dict[str, Any]) -> None:
        self.price = config.get("price", self.price)

    def check_price(self, amount: float) -> float:
        return self.price * amount


@serve.deployment(ray_actor_options=LIGHT)
class MangoStand(Stand):
    def __init__(self) -> None:
        super().__init__(price=3)


@serve.deployment(ray_actor_options=LIGHT)
class OrangeStand(Stand):
    def __init__(self) -> None:
        super().__init__(price=2)


@serve.deployment(ray_actor_options=LIGHT)
class PearStand(Stand):
    def __init__(self) -> None:
        super().__init__(price=1)


@serve.deployment(ray_actor_options=LIGHT)
class FruitMarket:
    """Asks the stand that sells the fruit; None when no stand does."""

    def __init__(self, mango: DeploymentHandle, orange: DeploymentHandle, pear: DeploymentHandle) -> None:
        self.stands = {"MANGO": mango, "ORANGE": orange, "PEAR": pear}

    async def check_price(self, fruit: str, amount: float) -> float | None:
        stand = self.stands.get(fruit.upper())
        if stand is None:
            return None
        return float(await stand.check_price.remote(amount))


@serve.deployment(ray_actor_options=LIGHT)
class DAGDriver:
    """The ingress, under the name the guide's config gives it (Ray's own DAGDriver left Ray in
    2.10): reads the JSON body and asks the market."""

    def __init__(self, market: DeploymentHandle) -> None:
        self.market = market

    async def __call__(self, request: Request) -> Any:
        try:
            fruit, amount = await request.json()
            amount = float(amount)
        except (ValueError, TypeError):
            return JSONResponse({"error": 'send a JSON list [fruit, amount], e.g. ["MANGO", 2]'}, 400)
        price = await self.market.check_price.remote(str(fruit), amount)
        if price is None:
            return JSONResponse({"error": f"no stand sells {fruit}"}, 404)
        return int(price) if price.is_integer() else price


deployment_graph = DAGDriver.bind(FruitMarket.bind(MangoStand.bind(), OrangeStand.bind(), PearStand.bind()))
