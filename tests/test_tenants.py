"""Tenants under docs/keys.md's ACL recipe: each works in its own partition and nowhere else.

The recipe's lines are read from docs/keys.md and run as written (tenant ``b`` is tenant
``a``'s line for partition ``b``), on the suite's own server: ACL changes are server-wide.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

import typedis
from _acl import connected_as, user_url
from typedis import Indexed, Key, Model, Sorted, _lua, field

DOCS = Path(__file__).parents[1] / "docs" / "keys.md"
LUA = Path(typedis.__file__).parent / "lua"


class Account(Model, partition="tenant"):
    tenant: Key[str]
    name: Key[str]
    kind: Indexed[str] = "current"
    balance: Sorted[int] = field(default=0)


class Abstract(Model, abstract=True):
    note: str = ""


def recipe() -> dict[str, list[str]]:
    """The ACL SETUSER lines of docs/keys.md, by user name, as arguments after SETUSER."""
    lines = re.findall(r"^ACL SETUSER (.+)$", DOCS.read_text(), re.MULTILINE)
    return {args[0]: args for args in map(shlex.split, lines)}


def password(rules: list[str]) -> str:
    return next(rule[1:] for rule in rules if rule.startswith(">"))


RULES = recipe()
TENANT_A = RULES["tenant-a"]
TENANT_B = [rule.replace("tenant-a", "tenant-b").replace(":a}", ":b}") for rule in TENANT_A]


@pytest.fixture
def admin(own_conn: typedis.Connection, own_client: redis.Redis) -> Iterator[redis.Redis]:
    """The recipe's users on the suite's own server, with a raw client as its administrator.

    typedis' default connection is the administrator, who has installed Account's functions.
    """
    for rules in (RULES["typedis-admin"], TENANT_A, TENANT_B):
        own_client.execute_command("ACL", "SETUSER", *rules)
    with connected_as(own_conn.url, "typedis-admin", password(RULES["typedis-admin"])):
        typedis.install_functions(Account)
        yield own_client


@contextmanager
def tenant(url: str, name: str) -> Iterator[typedis.Connection]:
    rules = {"a": TENANT_A, "b": TENANT_B}[name]
    with connected_as(url, rules[0], password(rules)) as conn:
        yield conn


def raw(url: str, rules: list[str]) -> redis.Redis:
    """A raw client logged in as a recipe user (for what typedis itself never sends)."""
    return redis.Redis.from_url(user_url(url, rules[0], password(rules)))  # pyright: ignore[reportUnknownMemberType]


def stored(admin: redis.Redis, partition: str) -> dict[bytes, object]:
    """Every key of one partition with its contents, read by the administrator."""
    out: dict[bytes, object] = {}
    for key in admin.scan_iter(match=f"{{td:Account:{partition}}}*"):
        out[key] = admin.dump(key)
    return out


def test_the_tenant_recipe_grants_every_command_the_lua_sends() -> None:
    sources = "\n".join(path.read_text() for path in LUA.rglob("*.lua"))
    # redis.call('CMD', ...) and the command tables built before a call: {'CMD', ...}
    sent = set(re.findall(r"redis\.p?call\('([A-Z_]+)'|\{'([A-Z_]+)',", sources))
    needed = {name.lower() for pair in sent for name in pair if name}
    granted = {rule[1:] for rule in TENANT_A if rule.startswith("+")}
    assert needed <= granted, f"add to the recipe in docs/keys.md: {sorted(needed - granted)}"
    # lpop: a bulk change by query pops the listed matches (typedis._store.pop_ids_call)
    assert granted - needed == {"fcall", "fcall_ro", "evalsha", "eval", "ping", "lpop"}


def test_a_tenant_cannot_replace_a_library_or_change_the_server(
    admin: redis.Redis, own_server: str
) -> None:
    with tenant(own_server, "b"):
        Account(tenant="b", name="main", balance=10).save()
    source = _lua.library(Account.__typedis_spec__).source
    altered = source.replace(
        "table.remove(values, 1)\n", "table.remove(values, 1)\nvalues[4] = '999999'\n"
    )
    with raw(own_server, TENANT_A) as attacker:
        for command in (
            ("FUNCTION", "LOAD", "REPLACE", altered),
            ("FUNCTION", "DELETE", _lua.library(Account.__typedis_spec__).name),
            ("FUNCTION", "FLUSH"),
            ("SCRIPT", "FLUSH"),
            ("FLUSHALL",),
            ("FLUSHDB",),
            ("CONFIG", "SET", "maxmemory", "1"),
            ("SCAN", 0),
            ("KEYS", "*"),
            ("ACL", "SETUSER", "tenant-a", "+@all"),
        ):
            with pytest.raises(redis.exceptions.NoPermissionError):
                attacker.execute_command(*command)
        # EVAL runs with the tenant's rights and cannot change what other scripts see.
        with pytest.raises(redis.ResponseError, match="readonly table"):
            attacker.execute_command("EVAL", "string.find = function() return 1 end", 0)
    with tenant(own_server, "b"):
        assert Account.load("b", "main").balance == 10
        assert Account.query.filter(Account.tenant == "b", Account.kind == "current").count() == 1
    listed = admin.execute_command("FUNCTION", "LIST", "WITHCODE")
    assert [entry[b"library_code"].decode() for entry in listed] == [source]


def test_a_tenant_works_in_its_own_partition(admin: redis.Redis, own_server: str) -> None:
    with tenant(own_server, "a"):
        main = Account(tenant="a", name="main", balance=10).save()
        Account.save_many([Account(tenant="a", name=n, kind="savings") for n in ("s1", "s2")])
        assert Account.load("a", "main") == main
        assert main.exists()
        richest = Account.query.filter(Account.tenant == "a").order_by(Account.balance.desc())
        assert [x.name for x in richest.limit(1).all()] == ["main"]
        savings = Account.query.filter(Account.tenant == "a", Account.kind == "savings")
        assert savings.count() == savings.count(exact=False) == 2
        rich = savings.filter(Account.balance >= 0)  # ZINTERCARD of a set and a range
        assert rich.count(exact=False) == rich.count() == 2
        assert Account.count("a") == Account.count("a", exact=False) == 3
        assert main.atomic_increment("balance", 5) == 15
        assert Account.load("a", "s2").delete()
        Account(tenant="a", name="old").save(expire_at=datetime.now(UTC) - timedelta(seconds=1))
        assert Account.sweep_expired("a") == 1
        assert Account.count("a") == 2
        mine = Account.query.filter(Account.tenant == "a")
        new = [Account(tenant="a", name=n, kind="new") for n in ("b1", "b2", "b3")]
        assert Account.bulk_create(new) == 3
        assert Account.bulk_update(mine.filter(Account.kind == "new"), kind="bulk") == 3
        assert Account.bulk_delete(new[:1]) == 1
        assert Account.bulk_delete(mine.filter(Account.kind == "bulk"), batch_size=1) == 2
    assert admin.smembers("{td:Account:a}:all") == {b"a:main", b"a:s1"}
    assert Account.check_indexes()["total"] == 0  # as the administrator: check_indexes SCANs


def test_a_tenant_cannot_read_or_write_another_tenants_records(
    admin: redis.Redis, own_server: str
) -> None:
    with tenant(own_server, "b"):
        Account(tenant="b", name="main", balance=10).save()
        Account(tenant="b", name="old").save(expire_at=datetime.now(UTC) - timedelta(seconds=1))
    before = stored(admin, "b")
    main = Account.load("b", "main")  # loaded by the administrator, then used by tenant a
    with tenant(own_server, "a"):
        refused = [
            lambda: Account.load("b", "main"),
            lambda: Account(tenant="b", name="main", balance=999999).save(),
            lambda: Account(tenant="b", name="new").save(),
            lambda: Account.save_many([Account(tenant="b", name="x")]),
            lambda: main.save(update_fields=["balance"]),
            lambda: main.atomic_increment("balance", 1),
            lambda: main.delete(),
            lambda: Account.query.filter(Account.tenant == "b").all(),
            lambda: Account.count("b"),
            lambda: Account.sweep_expired("b"),
            lambda: Account.bulk_create([Account(tenant="b", name="x")]),
            lambda: Account.bulk_update([main], balance=1),
            lambda: Account.bulk_update(Account.query.filter(Account.tenant == "b"), balance=1),
            lambda: Account.bulk_delete([main]),
            lambda: Account.bulk_delete(Account.query.filter(Account.tenant == "b")),
        ]
        for call in refused:
            with pytest.raises(typedis.PermissionDenied):
                call()
    assert stored(admin, "b") == before
    assert stored(admin, "a") == {}


def test_a_tenant_sweeps_its_partition_and_sweeping_every_partition_is_refused(
    admin: redis.Redis, own_server: str
) -> None:
    past = datetime.now(UTC) - timedelta(seconds=1)
    for name in ("a", "b"):
        with tenant(own_server, name):
            Account(tenant=name, name="old").save(expire_at=past)
    with tenant(own_server, "a"), pytest.raises(typedis.PermissionDenied, match=r"(?i)scan"):
        Account.sweep_expired()  # the recipe has no SCAN: it would list every tenant's keys
    assert admin.zcard("{td:Account:a}:exp") == 1
    # A user who may read the registry of partitions, but not sweep partition "a": refused
    # there, its own left as it was.
    admin.execute_command("ACL", "SETUSER", "tenant-b", "+smembers", "%R~{td:Account}:partitions")
    with (
        tenant(own_server, "b"),
        pytest.raises(typedis.PermissionDenied, match=r"stopped at the partition \{td:Account:a\}"),
    ):
        Account.sweep_expired()
    assert admin.zcard("{td:Account:b}:exp") == 1
    with tenant(own_server, "a"):
        assert Account.sweep_expired("a") == 1
    assert admin.zcard("{td:Account:a}:exp") == 0
    assert Account.sweep_expired() == 1  # the administrator sweeps every partition
    assert admin.zcard("{td:Account:b}:exp") == 0


def test_a_missing_library_is_for_an_administrator_to_install(
    own_server: str, own_client: redis.Redis
) -> None:
    for rules in (RULES["typedis-admin"], TENANT_A):
        own_client.execute_command("ACL", "SETUSER", *rules)
    with (
        tenant(own_server, "a"),
        pytest.raises(typedis.PermissionDenied, match="install_functions"),
    ):
        Account(tenant="a", name="main").save()
    assert own_client.keys() == [b"{td:Account}:partitions"]  # registered before the save
    with connected_as(own_server, "typedis-admin", password(RULES["typedis-admin"])):
        assert typedis.install_functions(Account) == [_lua.library(Account.__typedis_spec__).name]
    with tenant(own_server, "a"):
        Account(tenant="a", name="main").save()
    assert own_client.exists("{td:Account:a}:r:a:main")


def test_install_functions_is_idempotent_and_restores_an_altered_library(
    admin: redis.Redis,
) -> None:
    library = _lua.library(Account.__typedis_spec__)
    admin.execute_command("FUNCTION", "LOAD", "REPLACE", library.source + "\n-- altered\n")
    assert typedis.install_functions(Account, Account) == [library.name]
    assert typedis.install_functions(Account) == [library.name]
    listed = admin.execute_command("FUNCTION", "LIST", "WITHCODE")
    assert [(e[b"library_name"].decode(), e[b"library_code"].decode()) for e in listed] == [
        (library.name, library.source)
    ]


def test_install_functions_refuses_what_is_not_a_model_and_tenants(
    admin: redis.Redis, own_server: str
) -> None:
    for wrong in (Model, Abstract, "Account", Account(tenant="a", name="x")):
        with pytest.raises(typedis.ModelError, match="install_functions"):
            typedis.install_functions(wrong)  # type: ignore[arg-type]
    with tenant(own_server, "a"), pytest.raises(typedis.PermissionDenied, match="administrator"):
        typedis.install_functions(Account)


@pytest.mark.parametrize("limit", [0, -1, True, 1.5, "10"])
def test_sweep_expired_refuses_a_limit_that_is_not_a_positive_int(
    limit: object, redis_client: redis.Redis
) -> None:
    Account(tenant="a", name="old").save(expire_at=datetime.now(UTC) - timedelta(seconds=1))
    with pytest.raises(typedis.ModelError, match=r"Account.sweep_expired\(\): limit must be"):
        Account.sweep_expired(limit=limit)  # type: ignore[arg-type]
    with pytest.raises(typedis.ModelError, match="limit must be"):
        Account.sweep_expired("a", limit=limit)  # type: ignore[arg-type]
    assert redis_client.zcard("{td:Account:a}:exp") == 1  # nothing ran


def test_sweep_expired_takes_one_value_per_partition_field() -> None:
    with pytest.raises(typedis.QueryError, match="partitioned by"):
        Account.sweep_expired("a", "b")
