from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-11-25T01:08:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Index the statistics cells and fill them from the responses already stored"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="survey", description=DESCRIPTION)

    async def index_and_fill() -> None:
        # Imported here so that listing migrations does not import the app.
        from survey_app.storage import rollup
        from survey_app.storage.tables import ResponseCell

        engine = ResponseCell._meta.db
        for statement in rollup.INDEX_SQL:
            await engine.run_ddl(statement)
        await rollup.rebuild(engine)

    manager.add_raw(index_and_fill)
    return manager
