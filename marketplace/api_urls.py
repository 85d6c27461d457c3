from django.urls import path

from marketplace import api

urlpatterns = [
    path("me/", api.MeView.as_view(), name="me"),
]
