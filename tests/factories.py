"""factory-boy factories shared by the suite."""

from typing import cast

import factory
from allauth.account.models import EmailAddress
from django.contrib.auth.hashers import make_password

from marketplace.models import User

PASSWORD = "correct-horse-battery-staple"
# Hashing once keeps user creation fast; tests that log in use PASSWORD.
PASSWORD_HASH = make_password(PASSWORD)


class UserFactory(factory.django.DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.test")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    is_client = True
    is_freelancer = False
    password = PASSWORD_HASH


def make_user(**fields: object) -> User:
    """``UserFactory(...)`` typed as the model it returns."""
    return cast(User, UserFactory(**fields))


def verified_user(**fields: object) -> User:
    """A user whose primary e-mail address is verified, as after sign-up."""
    user = make_user(**fields)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user
