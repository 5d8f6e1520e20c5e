from django.urls import path

from .views import book_detail

urlpatterns = [path("api/books/<int:pk>/", book_detail, name="book-detail")]
