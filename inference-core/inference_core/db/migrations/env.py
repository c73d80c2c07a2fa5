from alembic import context
from sqlalchemy import create_engine

from inference_core.db.schema import metadata

url = context.config.get_main_option("sqlalchemy.url")
assert url, "sqlalchemy.url must be set (inference_core.db.migrate does)"

if context.is_offline_mode():
    context.configure(url=url, target_metadata=metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
