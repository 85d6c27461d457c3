"""Job search: PostgreSQL full-text search with ranking; a plain match elsewhere.

On PostgreSQL each job's vector is a stored generated column, ``search_vector``
(migration 0007, GIN index ``marketplace_job_search_gin``); the model doesn't
declare it because SQLite has no equivalent.
"""

from __future__ import annotations

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVectorField
from django.db import connection
from django.db.models import BooleanField, F, Q, QuerySet
from django.db.models.expressions import CombinedExpression, RawSQL

from marketplace.models import Job

SEARCH_CONFIG = "english"
MAX_QUERY_LENGTH = 200


def job_search_vector() -> RawSQL:
    """The stored, indexed vector column (title weighted A, description B)."""
    return RawSQL('"marketplace_job"."search_vector"', [], output_field=SearchVectorField())


def uses_full_text() -> bool:
    return connection.vendor == "postgresql"


def search_jobs(queryset: QuerySet[Job], text: str) -> QuerySet[Job]:
    """Jobs matching ``text``. On PostgreSQL they carry a ``rank`` annotation
    (title matches weigh more than description matches); elsewhere ``rank`` is absent."""
    text = text.strip()[:MAX_QUERY_LENGTH]
    if not text:
        return queryset
    if uses_full_text():
        query = SearchQuery(text, search_type="websearch", config=SEARCH_CONFIG)
        vector = job_search_vector()
        return queryset.filter(_matches(vector, query)).annotate(rank=SearchRank(vector, query))
    words = text.split()
    condition = Q()
    for word in words[:10]:
        condition &= Q(title__icontains=word) | Q(description__icontains=word)
    return queryset.filter(condition)


def _matches(vector: RawSQL, query: SearchQuery) -> Q:
    return Q(CombinedExpression(vector, "@@", query, output_field=BooleanField()))


def order_by_relevance(queryset: QuerySet[Job]) -> QuerySet[Job]:
    """Best match first on PostgreSQL; newest first where there is no rank."""
    if uses_full_text():
        return queryset.order_by(F("rank").desc(), F("published_at").desc(nulls_last=True), "-pk")
    return queryset.order_by(F("published_at").desc(nulls_last=True), "-pk")
