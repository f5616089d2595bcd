from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-25T00:55:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "Index the statistics cells and fill them from the responses already stored"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="survey", description=DESCRIPTION)

    async def index_and_fill() -> None:
        # Imported here so that listing migrations does not import the app.
        from survey_app.storage import rollup
        from survey_app.storage.tables import ResponseCell

        engine = ResponseCell._meta.db
        await engine.run_ddl(rollup.UNIQUE_INDEX_SQL)
        await engine.run_ddl(rollup.AGENCY_INDEX_SQL)
        await rollup.rebuild(engine)

    manager.add_raw(index_and_fill)
    return manager
