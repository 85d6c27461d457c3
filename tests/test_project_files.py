"""README documents every setting; docker-compose describes the production stack."""

import re

import yaml
from django.conf import settings

ROOT = settings.BASE_DIR
README = (ROOT / "README.md").read_text()


def variables_read_by_settings() -> set[str]:
    source = (ROOT / "smartpay" / "settings.py").read_text()
    return set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z][A-Z0-9_]+)"', source))


def test_readme_starts_with_make_run_and_make_test():
    first_screen = "\n".join(README.splitlines()[:15])
    assert "make run" in first_screen
    assert "make test" in first_screen


def test_every_setting_variable_is_in_the_readme_table():
    names = variables_read_by_settings()
    assert {
        "DATABASE_URL",
        "REDIS_URL",
        "SECRET_KEY",
        "EMAIL_URL",
        "AWS_STORAGE_BUCKET_NAME",
    } <= names
    missing = {name for name in names if f"`{name}`" not in README}
    assert not missing, f"document these in README: {sorted(missing)}"


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_production_services():
    services = compose()["services"]
    assert {"postgres", "redis", "s3", "migrate", "web", "worker", "beat", "proxy"} <= set(services)
    assert services["beat"]["deploy"]["replicas"] == 1
    assert "DatabaseScheduler" in " ".join(services["beat"]["command"])
    assert "smartpay.asgi:application" in services["web"]["command"]


def test_compose_app_services_get_their_configuration_from_variables_settings_read():
    services = compose()["services"]
    known = variables_read_by_settings()
    for name in ("web", "worker", "beat", "migrate"):
        environment = services[name]["environment"]
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert environment["REDIS_URL"].startswith("redis://")
        assert environment["AWS_STORAGE_BUCKET_NAME"] == "smartpay"
        assert set(environment) <= known, set(environment) - known


def test_compose_interpolation_names_are_documented_in_env_example():
    text = (ROOT / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)", text))
    example = (ROOT / ".env.example").read_text()
    assert {name for name in used if f"{name}=" not in example} <= {"EMAIL_URL"}
