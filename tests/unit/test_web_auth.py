"""The stand-in hash an unknown user's login is verified against costs what a real one costs."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, extract_parameters
from argon2.exceptions import VerificationError

from intake.web import auth


def test_the_dummy_hash_has_the_hashers_parameters_and_matches_no_password() -> None:
    hasher = PasswordHasher()  # as auth._hasher is made
    assert extract_parameters(auth._DUMMY) == extract_parameters(hasher.hash("any password at all"))
    with pytest.raises(VerificationError):
        hasher.verify(auth._DUMMY, "")
