"""Settings in the embedded default and with service URLs, and production security."""

import json

from tests.helpers import child_env, manage, production_env, run_python

DUMP = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({
    "db": s.DATABASES["default"]["ENGINE"],
    "db_name": str(s.DATABASES["default"]["NAME"]),
    "db_host": s.DATABASES["default"].get("HOST", ""),
    "cache": s.CACHES["default"]["BACKEND"],
    "channels": s.CHANNEL_LAYERS["default"]["BACKEND"],
    "broker": s.CELERY_BROKER_URL,
    "results": s.CELERY_RESULT_BACKEND,
    "storage": s.STORAGES["default"]["BACKEND"],
    "email": s.EMAIL_BACKEND,
    "debug": s.DEBUG,
    "secure_cookies": s.SESSION_COOKIE_SECURE,
}))
"""


def dump_settings(env):
    result = run_python(DUMP, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_embedded_default_needs_no_server(tmp_path):
    s = dump_settings(child_env(tmp_path))
    assert s["db"] == "django.db.backends.sqlite3"
    assert s["db_name"] == str(tmp_path / "smartpay.sqlite3")
    assert s["cache"].endswith("LocMemCache")
    assert s["channels"] == "channels.layers.InMemoryChannelLayer"
    assert s["broker"] == f"sqla+sqlite:///{tmp_path / 'celery-broker.sqlite3'}"
    assert s["results"].startswith("db+sqlite:///")
    assert s["storage"].endswith("FileSystemStorage")
    assert s["email"].endswith("console.EmailBackend")
    assert s["debug"] is False
    assert s["secure_cookies"] is False
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_service_urls_switch_to_postgres_redis_s3_and_smtp(tmp_path):
    env = child_env(
        tmp_path,
        DATABASE_URL="postgres://sp:pw@db.internal:5432/smartpay",
        REDIS_URL="redis://cache.internal:6379/0",
        AWS_STORAGE_BUCKET_NAME="smartpay-files",
        EMAIL_URL="smtp+tls://mailer:pw@smtp.internal:587",
    )
    s = dump_settings(env)
    assert s["db"] == "django.db.backends.postgresql"
    assert s["db_host"] == "db.internal"
    assert s["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert s["channels"] == "channels_redis.core.RedisChannelLayer"
    assert s["broker"] == s["results"] == "redis://cache.internal:6379/0"
    assert s["storage"] == "storages.backends.s3.S3Storage"
    assert s["email"].endswith("smtp.EmailBackend")


def test_check_deploy_is_clean_under_production_variables(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=production_env(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_about_the_embedded_default(tmp_path):
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=child_env(tmp_path))
    assert result.returncode != 0
    assert "SECURE_SSL_REDIRECT" in result.stderr + result.stdout


def test_debug_is_off_unless_asked(tmp_path):
    assert dump_settings(child_env(tmp_path, DEBUG="true"))["debug"] is True
    assert dump_settings(child_env(tmp_path, DEBUG="false"))["debug"] is False
