"""Full-text search over jobs: a GIN expression index on PostgreSQL only.

The expression must match ``marketplace.search.JOB_SEARCH_VECTOR`` exactly for
the planner to use the index. SQLite has no full-text index here; job search
falls back to a plain match there.
"""

from django.db import migrations

INDEX_SQL = """
CREATE INDEX IF NOT EXISTS marketplace_job_search_gin ON marketplace_job USING GIN (
    (setweight(to_tsvector('english'::regconfig, COALESCE(title, '')), 'A') ||
     setweight(to_tsvector('english'::regconfig, COALESCE(description, '')), 'B'))
)
"""


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(INDEX_SQL)


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("DROP INDEX IF EXISTS marketplace_job_search_gin")


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0005_catalogue")]
    operations = [migrations.RunPython(create_index, drop_index)]
