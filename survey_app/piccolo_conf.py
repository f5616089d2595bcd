"""Piccolo configuration for its CLI and migrations.

Piccolo's migration runner looks the engine up here, so this module reads
``DATABASE_URL`` (through ``Settings``) when the ``piccolo`` or ``survey
migrate`` command imports it. The service itself never imports this module:
``create_app`` builds its engine from the settings it is given.
"""

from piccolo.conf.apps import AppRegistry

from survey_app.db.engine import engine_from_url
from survey_app.lib.settings import database_url_from_env

DB = engine_from_url(database_url_from_env())

APP_REGISTRY = AppRegistry(
    apps=[
        "survey_app.db.piccolo_app",
        "piccolo.apps.user.piccolo_app",
        "piccolo_api.session_auth.piccolo_app",
    ]
)
