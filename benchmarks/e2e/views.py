"""The sync twin of ``catalog.views.book_detail``: same queries, same JSON."""

from __future__ import annotations

from catalog.models import Loan
from catalog.views import book_json, catalogue, loan_json
from django.db.models import Prefetch
from django.http import HttpRequest, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET


@require_GET
def book_detail(request: HttpRequest, pk: int) -> JsonResponse:
    open_loans = Loan.objects.filter(returned_at__isnull=True)
    book = get_object_or_404(
        catalogue().prefetch_related(
            Prefetch("loans", open_loans, to_attr="open_loans")
        ),
        pk=pk,
    )
    return JsonResponse(
        {**book_json(book), "loans": [loan_json(x) for x in book.open_loans]}
    )
