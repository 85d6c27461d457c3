"""Seed the catalogue of categories and skills."""

from django.db import migrations
from django.utils.text import slugify

from marketplace.catalogue_data import CATALOGUE


def load_catalogue(apps, schema_editor):
    Category = apps.get_model("marketplace", "Category")
    Skill = apps.get_model("marketplace", "Skill")
    for category_name, skills in CATALOGUE.items():
        category, _ = Category.objects.get_or_create(
            slug=slugify(category_name), defaults={"name": category_name}
        )
        for skill_name in skills:
            Skill.objects.get_or_create(
                slug=slugify(skill_name), defaults={"name": skill_name, "category": category}
            )


def unload_catalogue(apps, schema_editor):
    names = list(CATALOGUE)
    apps.get_model("marketplace", "Skill").objects.filter(category__name__in=names).delete()
    apps.get_model("marketplace", "Category").objects.filter(name__in=names).delete()


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0004_marketplace_core")]
    operations = [migrations.RunPython(load_catalogue, unload_catalogue)]
