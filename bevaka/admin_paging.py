"""Admin changelists of tables that grow with traffic without a COUNT(*) of the whole table (issue 22).

``EstimatedCountPaginator`` answers the count of an unfiltered changelist from the planner's statistics
(``pg_class.reltuples``, summed over a partitioned table's partitions) and a filtered one by counting at most
``FILTERED_COUNT_CAP`` rows: the pages' cost is bounded by what they show, not by the table's age. Used with
``show_full_result_count = False`` (``LargeTableAdmin``). SQLite counts as before (small by nature).
"""

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property

FILTERED_COUNT_CAP = 10_000


def estimated_rows(table: str) -> int:
    """The planner's estimate of ``table``'s rows (its partitions' for a partitioned one); -1 if unknown."""
    with connection.cursor() as cursor:
        # A partitioned table's own reltuples (PostgreSQL 14+) already sums its partitions': read the
        # partitions' where there are some, the table's otherwise.
        cursor.execute(
            "SELECT coalesce((SELECT sum(greatest(c.reltuples, 0)) FROM pg_class c JOIN pg_inherits i "
            "ON c.oid = i.inhrelid WHERE i.inhparent = %s::regclass), "
            "(SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = %s::regclass))::bigint, "
            "(SELECT reltuples >= 0 OR relkind = 'p' FROM pg_class WHERE oid = %s::regclass)",
            [table, table, table],
        )
        total, known = cursor.fetchone()
    return int(total) if known else -1


class EstimatedCountPaginator(Paginator):
    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if connection.vendor != "postgresql" or not hasattr(queryset, "query"):
            return super().count
        if not queryset.query.where:
            estimate = estimated_rows(queryset.model._meta.db_table)
            if estimate >= FILTERED_COUNT_CAP:
                return estimate
        return queryset.order_by()[: FILTERED_COUNT_CAP + 1].count()


class LargeTableAdmin(admin.ModelAdmin):
    """A changelist that never counts the whole table: no "N total" link, an estimated or capped count."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
