"""Job search: PostgreSQL full-text search with ranking; a plain match elsewhere.

On PostgreSQL the vector below must stay exactly the expression of the GIN index
``marketplace_job_search_gin`` (migration 0006), or the planner falls back to a
sequential scan over every job.
"""

from __future__ import annotations

from django.contrib.postgres.search import SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import BooleanField, F, Q, QuerySet
from django.db.models.expressions import CombinedExpression

from marketplace.models import Job

SEARCH_CONFIG = "english"
MAX_QUERY_LENGTH = 200


def job_search_vector() -> CombinedExpression:
    """The indexed expression (see migration 0006_job_search_index)."""
    return SearchVector("title", weight="A", config=SEARCH_CONFIG) + SearchVector(
        "description", weight="B", config=SEARCH_CONFIG
    )


# Named in migration 0006; expressions are copied when a query uses them.
JOB_SEARCH_VECTOR = job_search_vector()


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
        # The @@ test is written on the indexed expression itself, so the
        # planner answers it from the GIN index.
        return queryset.filter(_matches(vector, query)).annotate(rank=SearchRank(vector, query))
    words = text.split()
    condition = Q()
    for word in words[:10]:
        condition &= Q(title__icontains=word) | Q(description__icontains=word)
    return queryset.filter(condition)


def _matches(vector: CombinedExpression, query: SearchQuery) -> Q:
    return Q(CombinedExpression(vector, "@@", query, output_field=BooleanField()))


def order_by_relevance(queryset: QuerySet[Job]) -> QuerySet[Job]:
    """Best match first on PostgreSQL; newest first where there is no rank."""
    if uses_full_text():
        return queryset.order_by(F("rank").desc(), F("published_at").desc(nulls_last=True), "-pk")
    return queryset.order_by(F("published_at").desc(nulls_last=True), "-pk")
