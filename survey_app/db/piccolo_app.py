"""Piccolo app registration: lets ``piccolo migrations`` find our tables."""

from pathlib import Path

from piccolo.conf.apps import AppConfig

from survey_app.db.tables import SURVEY_TABLES

APP_CONFIG = AppConfig(
    app_name="survey",
    migrations_folder_path=str(Path(__file__).parent / "piccolo_migrations"),
    table_classes=SURVEY_TABLES,
    migration_dependencies=[
        "piccolo.apps.user.piccolo_app",
        "piccolo_api.session_auth.piccolo_app",
    ],
    commands=[],
)
