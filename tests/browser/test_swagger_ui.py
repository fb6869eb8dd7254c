"""The Swagger UI in a real browser: every operation is listed, and "Try it out" reaches the cluster.

The session's app (tests/conftest.py) is served over HTTP by uvicorn on a free loopback port, and
the browser (tests/browser/conftest.py) opens `/swagger-ui/` as a user would. Nothing is
downloaded: the page's assets come from the app. On failure, a screenshot and the page's HTML are
saved under the test's tmp_path.
"""
from __future__ import annotations

import json
import re
import socket
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from app.k8s import K8s
from app.main import create_app
from app.settings import Settings
from app.types import Json
from tests.browser.conftest import evidence
from tests.support.bodies import template_body
from tests.support.kube import Cluster

SPEC = Path(__file__).resolve().parents[2] / "openapi" / "kuberay.yaml"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
WAIT = 30.0  # seconds for the UI to render or answer; it normally takes well under one
LIST_TEMPLATES = "/namespaces/{namespace}/compute_templates"


@pytest.fixture(scope="module")
def base_url(app: Any) -> Iterator[str]:
    with served(app) as url:
        yield url


@contextmanager
def served(app: Any) -> Iterator[str]:
    """The app served by uvicorn in a thread, on a loopback socket bound before it starts."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    # log_config=None: uvicorn leaves the logging that create_app set up alone.
    server = uvicorn.Server(uvicorn.Config(app, lifespan="on", log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started or not thread.is_alive():
                break
            thread.join(0.05)
        assert server.started, "uvicorn did not start (see the captured log)"
        host, port = sock.getsockname()
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def spec_operations() -> set[tuple[str, str, str]]:
    """(METHOD, path, block id) of every operation in openapi/kuberay.yaml.

    Swagger UI gives each operation's block the id `operations-<first tag>-<operationId>`.
    """
    paths = yaml.safe_load(SPEC.read_text())["paths"]
    return {(method.upper(), path, f"operations-{op.get('tags', ['default'])[0]}-{op['operationId']}")
            for path, item in paths.items() for method, op in item.items() if method in METHODS}


def open_ui(browser: WebDriver, base_url: str) -> None:
    browser.get(f"{base_url}/swagger-ui/")
    # The operations appear together, once the UI has fetched and rendered /apis/v1/openapi.json.
    WebDriverWait(browser, WAIT).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, ".opblock"), "Swagger UI rendered no operation")


def listed_operations(browser: WebDriver) -> set[tuple[str, str, str]]:
    """(METHOD, path, block id) of every operation block on the page."""
    rows = browser.execute_script("""
        return Array.from(document.querySelectorAll('.opblock')).map(block => [
            block.querySelector('.opblock-summary-method').textContent.trim(),
            block.querySelector('.opblock-summary-path').getAttribute('data-path'),
            block.id]);
    """)
    # The id escapes the operationId's dots for CSS selectors (`handlers\.clusters\.get_cluster`).
    return {(method, path, re.sub(r"\\(.)", r"\1", block_id)) for method, path, block_id in rows}


def operation_block(browser: WebDriver, method: str, path: str) -> WebElement:
    blocks = [block for block in browser.find_elements(By.CSS_SELECTOR, f".opblock-{method.lower()}")
              if block.find_element(By.CSS_SELECTOR, ".opblock-summary-path")
              .get_attribute("data-path") == path]
    assert len(blocks) == 1, f"{len(blocks)} blocks for {method} {path}"
    return blocks[0]


def post_json(url: str, body: Json) -> tuple[int, Json]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, json.loads(response.read())


def execute_list(browser: WebDriver, namespace: str) -> tuple[WebElement, WebElement]:
    """Try it out on the templates' list: its operation block, and the answer shown."""
    block = operation_block(browser, "GET", LIST_TEMPLATES)
    block.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    WebDriverWait(block, WAIT).until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".try-out__btn"))).click()
    field = block.find_element(By.CSS_SELECTOR, 'tr[data-param-name="namespace"] input')
    field.clear()
    field.send_keys(namespace)
    block.find_element(By.CSS_SELECTOR, ".execute").click()
    live = WebDriverWait(block, WAIT).until(
        lambda b: b.find_elements(By.CSS_SELECTOR, ".live-responses-table .response"),
        "no response shown after Execute")[0]
    return block, live


def status_shown(live: WebElement) -> str:
    return str(live.find_element(By.CSS_SELECTOR, ".response-col_status").text.strip())


def test_every_operation_of_the_spec_is_listed(browser: WebDriver, base_url: str,
                                               tmp_path: Path) -> None:
    with evidence(browser, tmp_path, "swagger-ui"):
        open_ui(browser, base_url)

        assert browser.current_url == f"{base_url}/apis/v1/swagger-ui/"  # upstream's address redirects
        assert listed_operations(browser) == spec_operations()


def test_try_it_out_lists_the_templates_of_a_namespace(browser: WebDriver, base_url: str,
                                                       namespace: str, tmp_path: Path) -> None:
    with evidence(browser, tmp_path, "swagger-ui"):
        name = "browser-template"
        status, created = post_json(f"{base_url}/apis/v1/namespaces/{namespace}/compute_templates",
                                    template_body(namespace, name))
        assert (status, created["name"]) == (200, name)
        open_ui(browser, base_url)

        block, live = execute_list(browser, namespace)
        assert status_shown(live) == "200"
        shown = live.find_element(By.CSS_SELECTOR, ".highlight-code code").text
        assert json.loads(shown) == {"computeTemplates": [created]}
        request_url = block.find_element(By.CSS_SELECTOR, ".request-url pre").text
        assert request_url == f"{base_url}/apis/v1/namespaces/{namespace}/compute_templates"


TOKEN = "swagger-s3cret"


@pytest.fixture(scope="module")
def token_url(cluster: Cluster) -> Iterator[str]:
    """An app that asks for a shared token (the `token` mode)."""
    app = create_app(Settings(auth_mode="token", auth_token=TOKEN), K8s.from_kubeconfig(str(cluster.kubeconfig)))
    with served(app) as url:
        yield url


def test_authorize_sends_the_token(browser: WebDriver, token_url: str, namespace: str, tmp_path: Path) -> None:
    """With credentials asked for, the UI's Authorize button takes the token and its calls send it."""
    with evidence(browser, tmp_path, "swagger-ui-authorize"):
        open_ui(browser, token_url)
        assert status_shown(execute_list(browser, namespace)[1]) == "401"

        open_ui(browser, token_url)
        browser.find_element(By.CSS_SELECTOR, ".auth-wrapper .authorize").click()
        dialog = WebDriverWait(browser, WAIT).until(
            lambda b: b.find_elements(By.CSS_SELECTOR, ".auth-container input"), "no Authorize dialog")[0]
        dialog.send_keys(TOKEN)
        browser.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper .modal-btn.auth").click()
        browser.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper .btn-done").click()
        assert status_shown(execute_list(browser, namespace)[1]) == "200"
