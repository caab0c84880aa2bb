"""`smsledger tokens list` and `smsledger tokens revoke`, as an operator runs them beside a
running service: the listing shows no secret, and a token revoked on the command line
is refused by the service's very next request."""

from __future__ import annotations

import json

import httpx
import pytest

from smsledger.adapters.bootstrap import bootstrap
from smsledger.adapters.cli.main import main
from smsledger.adapters.http.app import create_app
from smsledger.adapters.http.context import ServiceContext
from smsledger.adapters.http.server import BackgroundServer
from smsledger.adapters.runtime.config import load_settings

SECRET_KEY = "cli-tokens-0123456789abcdef"


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("SMSLEDGER_SECRET_KEY", SECRET_KEY)
    return f"sqlite:///{tmp_path}/tokens.db"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_tokens_are_listed_masked_and_a_revoked_one_is_refused_by_the_running_service(
        store, capsys):
    code, out, _ = run(capsys, "projects", "create", "acme", "--database-url", store)
    admin = json.loads(out)["admin_token"]
    code, out, _ = run(capsys, "tokens", "create", "--project", "acme", "--role", "member",
                       "--database-url", store)
    member = json.loads(out)["token"]
    member_id = member.split(".")[1]

    settings = load_settings(database_url=store, secret_key=SECRET_KEY)
    with BackgroundServer() as server:
        channel = bootstrap(settings=settings, public_url=server.url)
        server.start(create_app(ServiceContext.serving(channel, server.url, settings)))
        try:
            with httpx.Client(base_url=server.url,
                              headers={"Authorization": f"Bearer {member}"}) as client:
                assert client.get("/v1/projects/acme/integrations").status_code == 200

                code, out, _ = run(capsys, "tokens", "list", "--project", "acme",
                                   "--database-url", store)
                assert code == 0
                listed = {t["token_id"]: t for t in json.loads(out)["tokens"]}
                assert set(listed) == {admin.split(".")[1], member_id}
                assert listed[member_id]["token"] == f"sml_acme.{member_id}.****"
                assert listed[member_id]["role"] == "member" and listed[member_id]["issued_at"]
                assert member.split(".")[2] not in out and admin.split(".")[2] not in out

                code, out, _ = run(capsys, "tokens", "revoke", "--project", "acme", member_id,
                                   "--database-url", store)
                assert code == 0 and json.loads(out)["revoked_by"] == "cli"
                # Revoked by another process (this command's own directory): refused at once.
                assert client.get("/v1/projects/acme/integrations").status_code == 401
        finally:
            server.stop()
            channel.close()

    code, out, _ = run(capsys, "tokens", "list", "--project", "acme", "--database-url", store)
    assert json.loads(out)["tokens"][1]["revoked_at"] is not None


def test_revoking_an_unknown_token_or_project_says_so(store, capsys):
    run(capsys, "projects", "create", "acme", "--database-url", store)
    code, _, err = run(capsys, "tokens", "revoke", "--project", "acme", "000000000000",
                       "--database-url", store)
    assert code == 1 and "no token '000000000000'" in err
    code, _, err = run(capsys, "tokens", "list", "--project", "nope", "--database-url", store)
    assert code == 1 and "no project 'nope'" in err
