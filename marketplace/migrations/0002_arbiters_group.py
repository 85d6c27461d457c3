"""The arbiters group, holding the permission to resolve disputes."""

from django.contrib.auth.management import create_permissions
from django.db import migrations


def create_arbiters_group(apps, schema_editor):
    # Permissions are normally created after migrate; make sure ours exists now.
    app_config = apps.get_app_config("marketplace")
    app_config.models_module = True  # the migration state's stub lacks it
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="arbiters")
    permission = Permission.objects.get(
        codename="resolve_disputes", content_type__app_label="marketplace"
    )
    group.permissions.add(permission)


def remove_arbiters_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="arbiters").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_arbiters_group, remove_arbiters_group)]
