from django.urls import path

from . import views

urlpatterns = [
    path("page/<int:pk>/", views.page),
    path("write/<int:pk>/", views.write),
    path("hops/", views.hops),
]
