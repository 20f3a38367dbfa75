from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "traf3li.users"
    label = "users"
