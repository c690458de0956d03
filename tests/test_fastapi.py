"""typedis models as FastAPI request and response models, through FastAPI's test client.

Sync routes use the sync methods, async routes the asyncio twins; the app's lifespan closes
typedis' asyncio clients on shutdown, as their event loop (the test client's) ends with it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from typedis import (
    AutoKey,
    Confidence,
    Decaying,
    Geo,
    GeoPoint,
    Indexed,
    Key,
    Link,
    Model,
    NotFound,
    OptionalLink,
    Sorted,
    Unique,
    UniqueViolation,
    field,
    new_id,
)
from typedis._connection import get_connection
from typedis.memory import (
    AccessCount,
    Associations,
    CyclicDecaying,
    Fingerprinted,
    Predictions,
    Priority,
)


class ApiCustomer(Model):
    email: Key[str]
    name: str


class ApiBranch(Model):
    city: Key[str]
    number: Key[int]


class ApiShop(Model):
    name: Key[str]
    cuisine: Indexed[str | None] = field(default=None)
    phone: Unique[str]
    rating: Sorted[float] = field(default=0.0, ge=0, le=5)
    location: Geo[GeoPoint | None] = field(default=None)
    relevance: Decaying[float] = field(default=1.0, rate=0.1)
    certainty: Confidence = field(default=0.5)
    updated: datetime | None = field(default=None, auto_now=True)


class ApiOrder(Model):
    id: AutoKey = field(default_factory=new_id)
    customer: Link[ApiCustomer]
    courier: OptionalLink[ApiCustomer] = field(default=None)
    branch: OptionalLink[ApiBranch] = field(default=None)
    total: Sorted[float] = field(default=0.0)


class ApiNote(Model, partition="agent"):
    agent: Key[str]
    id: AutoKey = field(default_factory=new_id)
    topic: Indexed[str] = ""


class ApiMemory(Model, partition="agent"):
    agent: Key[str]
    id: AutoKey = field(default_factory=new_id)
    text: Fingerprinted[str] = ""
    hits: AccessCount = field(default=0)
    related: Associations = field(default=None)
    predictions: Predictions = field(default=None)
    priority: Priority = field(default=0.0)
    urgency: CyclicDecaying[float] = 0.0


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    await get_connection().aclose()


app = FastAPI(lifespan=lifespan)


@app.exception_handler(NotFound)
def not_found(request: Request, error: NotFound) -> JSONResponse:
    return JSONResponse({"detail": str(error)}, status_code=404)


@app.exception_handler(UniqueViolation)
def taken(request: Request, error: UniqueViolation) -> JSONResponse:
    return JSONResponse({"detail": str(error), "field": error.field}, status_code=409)


@app.post("/customers", status_code=201)
def create_customer(customer: ApiCustomer) -> ApiCustomer:
    return customer.save()


@app.post("/branches", status_code=201)
def create_branch(branch: ApiBranch) -> ApiBranch:
    return branch.save()


@app.post("/shops", status_code=201)
async def create_shop(shop: ApiShop) -> ApiShop:
    return await shop.asave()


@app.get("/shops/{name}")
async def get_shop(name: str) -> ApiShop:
    return await ApiShop.aload(name)


@app.post("/orders", status_code=201)
def create_order(order: ApiOrder) -> ApiOrder:
    return order.save()


@app.get("/orders/{order_id}")
def get_order(order_id: str) -> ApiOrder:
    return ApiOrder.load(order_id)


@app.get("/customers/{email}/orders")
async def orders_of(email: str) -> list[ApiOrder]:
    return await ApiOrder.query.filter(ApiOrder.customer == email).order_by(ApiOrder.total).aall()


@app.post("/agents/{agent}/notes", status_code=201)
def create_note(agent: str, note: ApiNote) -> ApiNote:
    note.agent = agent
    return note.save()


@app.get("/agents/{agent}/notes/{note_id}")
def get_note(agent: str, note_id: str) -> ApiNote:
    return ApiNote.load(agent, note_id)


@app.post("/memories", status_code=201)
def create_memory(memory: ApiMemory) -> ApiMemory:
    return memory.save()


@app.get("/memories/{agent}/{memory_id}")
def get_memory(agent: str, memory_id: str) -> ApiMemory:
    return ApiMemory.load(agent, memory_id)


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def created(client: TestClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def test_openapi_document_describes_every_model(client: TestClient) -> None:
    response = client.get("/openapi.json")
    assert response.status_code == 200, response.text
    schemas = response.json()["components"]["schemas"]
    names = {"ApiCustomer", "ApiBranch", "ApiShop", "ApiOrder", "ApiNote", "ApiMemory"}
    assert names <= schemas.keys()
    order = schemas["ApiOrder"]["properties"]
    assert order["customer"] == {"type": "string", "title": "Customer"}
    assert order["courier"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    branch_key = {
        "type": "array",
        "prefixItems": [{"type": "string"}, {"type": "string"}],
        "minItems": 2,
        "maxItems": 2,
    }
    assert order["branch"]["anyOf"] == [branch_key, {"type": "null"}]
    assert schemas["ApiOrder"]["required"] == ["customer"]
    shop = schemas["ApiShop"]["properties"]
    assert shop["rating"]["maximum"] == 5
    assert shop["certainty"]["maximum"] == 1.0
    assert shop["relevance"]["minimum"] == 0
    assert shop["location"]["anyOf"][0] == {"$ref": "#/components/schemas/GeoPoint"}
    assert schemas["GeoPoint"]["maxItems"] == schemas["GeoPoint"]["minItems"] == 2
    assert shop["updated"]["anyOf"][0] == {"type": "string", "format": "date-time"}


@pytest.mark.parametrize("model", [ApiCustomer, ApiBranch, ApiShop, ApiOrder, ApiNote, ApiMemory])
def test_json_schema_in_both_modes(model: type[Model]) -> None:
    assert model.model_json_schema(mode="serialization") == model.model_json_schema(
        mode="validation"
    )


def test_post_saves_and_get_loads(client: TestClient) -> None:
    created(client, "/customers", {"email": "ann@x.io", "name": "Ann"})
    created(client, "/branches", {"city": "Porto", "number": 3})
    shop = created(
        client,
        "/shops",
        {
            "name": "Zest",
            "cuisine": "Thai",
            "phone": "555",
            "rating": 4.5,
            "location": [38.7, -9.1],
        },
    )
    assert shop["location"] == [38.7, -9.1]
    assert shop["updated"] is not None  # set by the save, returned in the response
    assert client.get("/shops/Zest").json() == shop

    order = created(
        client, "/orders", {"customer": "ann@x.io", "branch": ["Porto", "3"], "total": 12.5}
    )
    assert order["customer"] == "ann@x.io"
    assert order["courier"] is None
    assert order["branch"] == ["Porto", "3"]
    loaded = ApiOrder.load(order["id"])
    assert loaded.customer.get().name == "Ann"
    assert loaded.branch is not None and loaded.branch.get().number == 3
    assert client.get(f"/orders/{order['id']}").json() == order
    assert client.get("/customers/ann@x.io/orders").json() == [order]

    note = created(client, "/agents/a:1/notes", {"agent": "ignored", "topic": "food"})
    assert note["agent"] == "a:1"
    assert client.get(f"/agents/a:1/notes/{note['id']}").json() == note

    memory = created(client, "/memories", {"agent": "a1", "text": "likes tea", "priority": 0.9})
    assert memory["hits"] == 0 and memory["related"] is None
    assert client.get(f"/memories/a1/{memory['id']}").json() == memory


def test_request_models_validate(client: TestClient) -> None:
    bad = [
        ("/customers", {"email": "ann@x.io"}),  # name missing
        ("/shops", {"name": "Zest", "phone": "555", "rating": 7}),  # le=5
        ("/shops", {"name": "Zest", "phone": "555", "certainty": 1.5}),  # Confidence in [0, 1]
        ("/shops", {"name": "Zest", "phone": "555", "location": [91, 0]}),  # latitude
        ("/orders", {"customer": ["a", "b"]}),  # ApiCustomer has one key field
        ("/orders", {"customer": "ann@x.io", "branch": ["Porto", "three"]}),  # number: int
        ("/memories", {"agent": "a1", "priority": 1.5}),  # Priority in [0, 1]
    ]
    for path, body in bad:
        response = client.post(path, json=body)
        assert response.status_code == 422, (path, body, response.text)
    assert ApiShop.query.count() == ApiOrder.query.count() == 0


def test_typedis_errors_map_to_http_statuses(client: TestClient) -> None:
    assert client.get("/shops/nowhere").status_code == 404
    assert client.get("/orders/nothing").status_code == 404
    created(client, "/shops", {"name": "Zest", "phone": "555"})
    response = client.post("/shops", json={"name": "Other", "phone": "555"})
    assert response.status_code == 409
    assert response.json()["field"] == "phone"
