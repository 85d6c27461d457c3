"""The OpenAPI schema builds without warnings and validates."""

from tests.helpers import child_env, manage


def test_schema_generates_cleanly(tmp_path):
    out = tmp_path / "schema.yaml"
    result = manage(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(out), env=child_env(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert "Idempotency" not in result.stderr
    assert "/api/v1/me/" in out.read_text()
