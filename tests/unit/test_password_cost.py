"""Passwords are hashed at scrypt's full cost outside the test configuration, and a stored hash is
checked at the cost it was made with (so a lighter test setting changes no code path)."""

from __future__ import annotations

from flask import Flask
from werkzeug.security import check_password_hash

from gatekeeper.config import DevelopmentConfig, ProductionConfig, TestConfig
from gatekeeper.people.auth import PASSWORD_HASH_METHOD, dummy_hash, hash_method, hash_password


def hashed_under(config) -> str:
    app = Flask(__name__)
    app.config.from_object(config)
    with app.app_context():
        return hash_password("correct horse battery staple")


def test_production_and_development_hash_at_full_cost():
    assert PASSWORD_HASH_METHOD == "scrypt:32768:8:1"
    for config in (ProductionConfig, DevelopmentConfig):
        stored = hashed_under(config)
        assert stored.startswith("scrypt:32768:8:1$")
        assert check_password_hash(stored, "correct horse battery staple")
        assert not check_password_hash(stored, "correct horse battery stapler")


def test_the_test_setting_is_lighter_and_the_unknown_account_costs_the_same():
    stored = hashed_under(TestConfig)
    assert stored.startswith(TestConfig.PASSWORD_HASH_METHOD + "$")
    assert check_password_hash(stored, "correct horse battery staple")
    app = Flask(__name__)
    app.config.from_object(TestConfig)
    with app.app_context():
        assert dummy_hash(hash_method()).startswith(TestConfig.PASSWORD_HASH_METHOD + "$")
