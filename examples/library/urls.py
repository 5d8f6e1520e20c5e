from catalog import views
from django.urls import path, re_path

urlpatterns = [
    path("", views.index, name="index"),
    path("healthz", views.health, name="health"),
    path("api/books/", views.books, name="books"),
    path("api/books/<int:pk>/", views.book_detail, name="book-detail"),
    path(
        "api/books/<int:pk>/prepared/",
        views.book_detail_prepared,
        name="book-detail-prepared",
    ),
    path("api/books/<int:pk>/borrow/", views.borrow, name="borrow"),
    path("api/loans/<int:pk>/return/", views.return_loan, name="return"),
    path("api/authors/<int:pk>/", views.author_detail, name="author-detail"),
    path("api/stats/", views.stats, name="stats"),
    path("api/activity/", views.activity, name="activity"),
    re_path(r"^api/(?P<path>.*)$", views.not_found),
]
