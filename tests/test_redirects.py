"""The one check of where a page may send the browser next (`webapp.redirects`)."""

import pytest

from tests import factories
from webapp.redirects import is_safe_path


@pytest.mark.parametrize("target", [
    "/inbox/", "/inbox/tasks/3?next=/x", "/my/evaluations/5#claim-2", "/a/b/../c",
])
def test_same_site_paths_are_followed(target):
    assert is_safe_path(target)


@pytest.mark.parametrize("target", [
    None, "", "inbox", "//evil.example/", "///evil.example", "/\\evil.example", "\\\\evil.example",
    "/\t/evil.example", "/\n/evil.example", "https://evil.example/", "javascript:alert(1)",
    "http:/evil.example", " /inbox", "/inbox\x00",
])
def test_anything_a_browser_could_read_as_another_site_is_refused(target):
    assert not is_safe_path(target)


def test_next_on_the_sign_in_and_button_pages_uses_it(client, org, login):
    response = client.post("/login?next=/\\evil.example", data={"username": "m1_a1", "password": factories.TEST_PASSWORD})
    assert response.status_code == 302 and "evil" not in response.headers["Location"]
